"""A profile's Plan through libseccomp: the filter context built, exported and patched.

The I/O half of compile_filter (profile.py is the pure half): libseccomp resolves
architectures and syscall names and writes the BPF; enosys.py puts runc's stub before it.
"""

from __future__ import annotations

from shim.errors import InvalidConfig, Unsupported, os_error_text
from shim.logs import get_logger
from shim.seccomp import bpf, enosys, names
from shim.seccomp.profile import Plan
from shim.sys import libseccomp


def build(plan: Plan) -> bytes:
    """The program for `plan`: struct sock_filter[] in host order.

    Raises Unsupported when libseccomp cannot be loaded or refuses a flag the kernel
    lacks, InvalidConfig naming the field for an arch or a rule it refuses.
    """
    try:
        native = libseccomp.native_arch()
    except OSError as err:
        raise Unsupported(
            f"linux.seccomp: cannot load {libseccomp.SONAME}: {os_error_text(err)}"
        ) from err
    try:
        filt = libseccomp.Filter(plan.default_action)
    except OSError as err:  # an action this kernel lacks
        raise InvalidConfig(f"linux.seccomp.defaultAction: {err.strerror}") from err
    with filt:
        arches = _add_arches(filt, plan)
        _set_attributes(filt, plan)
        _add_rules(filt, plan)
        program = filt.export_bpf()
    if plan.enosys_stub:
        program = enosys.patch(program, _limits(plan, {native, *arches}))
    length = len(program) // bpf.SOCK_FILTER.size
    if length > bpf.MAX_INSNS:
        raise InvalidConfig(
            f"linux.seccomp: the filter needs {length} instructions, "
            f"more than the kernel's {bpf.MAX_INSNS}"
        )
    return program


def _add_arches(filt: libseccomp.Filter, plan: Plan) -> list[int]:
    tokens = []
    for i, name in enumerate(plan.arches):
        try:
            token = libseccomp.arch_token(name)
            filt.add_arch(token)
        except OSError as err:
            raise InvalidConfig(  # EDOM: libseccomp mixes no byte orders
                f"linux.seccomp.architectures[{i}]: cannot add {name}: {err.strerror}"
            ) from err
        tokens.append(token)
    return tokens


def _set_attributes(filt: libseccomp.Filter, plan: Plan) -> None:
    filt.set_attr(libseccomp.ATTR_CTL_NNP, 0)  # the helper sets no_new_privs itself
    # Only seccomp(2) reads these two, not the program; libseccomp refuses them when the
    # kernel lacks the flag, and so does runc.
    for name, attr in (
        ("SECCOMP_FILTER_FLAG_LOG", libseccomp.ATTR_CTL_LOG),
        ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", libseccomp.ATTR_CTL_SSB),
    ):
        if plan.flags & names.FLAGS[name]:
            try:
                filt.set_attr(attr, 1)
            except OSError as err:
                raise Unsupported(f"linux.seccomp.flags: {name}: {err.strerror}") from err
    if plan.optimize:
        try:
            filt.set_attr(libseccomp.ATTR_CTL_OPTIMIZE, 2)  # a binary tree of syscalls
        except OSError as err:  # an older libseccomp: the linear filter works too
            get_logger().debug(f"seccomp binary tree optimization not available: {err}")


def _add_rules(filt: libseccomp.Filter, plan: Plan) -> None:
    numbers: dict[str, int | None] = {}
    for rule in plan.rules:
        if rule.syscall not in numbers:
            numbers[rule.syscall] = libseccomp.resolve_syscall(rule.syscall)
            if numbers[rule.syscall] is None:  # a kernel older than the profile: as runc
                get_logger().debug(f"unknown seccomp syscall {rule.syscall!r} ignored")
        nr = numbers[rule.syscall]
        if nr is None:
            continue
        try:
            filt.add_rule(rule.action, nr, rule.conditions)
        except OSError as err:
            raise InvalidConfig(
                f"{rule.where}: error adding seccomp rule for syscall {rule.syscall}: "
                f"{err.strerror}"
            ) from err


def _limits(plan: Plan, tokens: set[int]) -> list[enosys.ArchLimit]:
    """The largest syscall number the profile names, on each arch of the filter."""
    x32 = libseccomp.arch_token("x32")  # SCMP_ARCH_X32 is no AUDIT_ARCH: x86_64's is
    limits = []
    for token in sorted(tokens):
        numbers = (libseccomp.resolve_syscall(name, token) for name in plan.syscalls)
        last = max((nr for nr in numbers if nr is not None), default=0)
        audit = enosys.AUDIT_ARCH_X86_64 if token == x32 else token
        limits.append(enosys.ArchLimit(audit, last, x32=token == x32))
    return limits
