"""`linux.seccomp` read the way runc 1.1 reads it: a Plan of libseccomp values, no I/O.

runc's rules, kept here (libcontainer/specconv and seccomp/seccomp_linux.go):
- `SCMP_ACT_KILL` is KILL_THREAD; ERRNO and TRACE carry `errnoRet` (EPERM if unset),
  the default action `defaultErrnoRet`; other actions ignore it.
- A rule per syscall name. Its `args` all go in one rule (AND), unless two of them name
  the same argument: then each is a rule of its own (OR), as runc did before libseccomp
  could AND two comparisons of one argument.
- A rule whose action is the default action is dropped (libseccomp refuses it).
- NOTIFY may be neither the default action nor the action for `write`: the init
  writes the listener fd to its parent after loading the filter.
Unknown names (action, operator, architecture, flag) are an InvalidConfig naming the
field; unknown syscall names are left to the compiler, which skips them.
"""

from __future__ import annotations

import errno

from shim.errors import InvalidConfig
from shim.seccomp import names
from shim.spec.model import Seccomp, SeccompArg

MAX_ARGS = 6  # a syscall has at most six arguments
OPTIMIZE_ABOVE = 32  # runc turns on libseccomp's binary tree past this many syscalls

# NamedTuples for mypy; at run time the same classes from collections.namedtuple, since
# `typing` costs every create with a seccomp profile ~17 ms here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import NamedTuple, TypeVar

    _T = TypeVar("_T")

    class Condition(NamedTuple):
        """A `struct scmp_arg_cmp`."""

        arg: int
        op: int  # names.OPERATORS
        datum_a: int
        datum_b: int

    class Rule(NamedTuple):
        where: str  # e.g. "linux.seccomp.syscalls[3]", for errors
        syscall: str
        action: int
        conditions: tuple[Condition, ...]

    class Plan(NamedTuple):
        default_action: int
        arches: tuple[str, ...]  # libseccomp arch names, in profile order
        flags: int  # SECCOMP_FILTER_FLAG_* for seccomp(2), NEW_LISTENER included
        notify: bool
        rules: tuple[Rule, ...]
        syscalls: tuple[str, ...]  # every name the profile lists, ENOSYS stub included
        enosys_stub: bool  # prepend runc's -ENOSYS stub for syscalls newer than the profile
        optimize: bool

else:
    from collections import namedtuple

    Condition = namedtuple("Condition", "arg op datum_a datum_b")
    Rule = namedtuple("Rule", "where syscall action conditions")
    Plan = namedtuple(
        "Plan", "default_action arches flags notify rules syscalls enosys_stub optimize"
    )


def translate(profile: Seccomp) -> Plan:
    """The Plan for `profile`; raises InvalidConfig naming the first bad field."""
    default = _action(
        profile.default_action,
        profile.default_errno_ret,
        "linux.seccomp.defaultAction",
        "linux.seccomp.defaultErrnoRet",
    )
    if default == names.ACT_NOTIFY:
        raise InvalidConfig(
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as default action"
        )
    arches = tuple(
        _lookup(names.ARCHES, name, f"linux.seccomp.architectures[{i}]", "architecture")
        for i, name in enumerate(profile.architectures)
    )
    flags = 0
    for i, name in enumerate(profile.flags):
        flags |= _lookup(names.FLAGS, name, f"linux.seccomp.flags[{i}]", "flag")
    rules: list[Rule] = []
    syscalls: list[str] = []
    notify = False
    for i, call in enumerate(profile.syscalls):
        where = f"linux.seccomp.syscalls[{i}]"
        action = _action(call.action, call.errno_ret, f"{where}.action", f"{where}.errnoRet")
        groups = _condition_groups(call.args, where)
        for j, name in enumerate(call.names):
            if not name:
                raise InvalidConfig(f"{where}.names[{j}]: empty string is not a valid syscall")
            if action == names.ACT_NOTIFY:
                if name == "write":
                    raise InvalidConfig(
                        f"{where}: SCMP_ACT_NOTIFY cannot be used for the write syscall"
                    )
                notify = True
            syscalls.append(name)
            if action != default:
                rules.extend(Rule(where, name, action, group) for group in groups)
    if notify:
        flags |= names.FLAG_NEW_LISTENER
    return Plan(
        default_action=default,
        arches=arches,
        flags=flags,
        notify=notify,
        rules=tuple(rules),
        syscalls=tuple(syscalls),
        enosys_stub=_wants_enosys_stub(default),
        optimize=len(syscalls) > OPTIMIZE_ABOVE,
    )


def _lookup(table: Mapping[str, _T], name: str, where: str, what: str) -> _T:
    try:
        return table[name]
    except KeyError:
        raise InvalidConfig(f'{where}: unknown {what} "{name}"') from None


def _action(name: str, errno_ret: int | None, where: str, where_errno: str) -> int:
    action = _lookup(names.ACTIONS, name, where, "action")
    if action not in (names.ACT_ERRNO, names.ACT_TRACE):
        return action
    data = errno.EPERM if errno_ret is None else errno_ret
    limit = names.MAX_ERRNO if action == names.ACT_ERRNO else names.ACTION_DATA
    if data > limit:
        raise InvalidConfig(f"{where_errno}: {data} is out of range for {name} (0-{limit})")
    return action | data


def _condition_groups(args: list[SeccompArg], where: str) -> list[tuple[Condition, ...]]:
    conditions: list[Condition] = []
    for j, arg in enumerate(args):
        if arg.index >= MAX_ARGS:
            raise InvalidConfig(
                f"{where}.args[{j}].index: {arg.index} is out of range (0-{MAX_ARGS - 1})"
            )
        op = _lookup(names.OPERATORS, arg.op, f"{where}.args[{j}].op", "operator")
        conditions.append(Condition(arg.index, op, arg.value, arg.value_two))
    indexes = [c.arg for c in conditions]
    if len(set(indexes)) < len(indexes):
        return [(c,) for c in conditions]
    return [tuple(conditions)]


def _wants_enosys_stub(default: int) -> bool:
    # Only a default action that denies needs it: a permissive one already lets a newer
    # syscall reach the kernel, which answers ENOSYS itself (TRACE: the tracer decides).
    if (default & ~names.ACTION_DATA) in (names.ACT_ALLOW, names.ACT_LOG, names.ACT_TRACE):
        return False
    return default != names.ACT_ERRNO | errno.ENOSYS
