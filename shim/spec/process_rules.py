"""Checks on `process`, shared by config.json and `exec --process process.json`.

The first four messages are runc's (`validateProcessSpec`); the others name the field.
"""

from __future__ import annotations

import posixpath

from shim.errors import InvalidConfig
from shim.json_codec import dumps
from shim.spec.caps import CAPS
from shim.spec.kernel_names import RLIMITS
from shim.spec.model import Capabilities, Process, Rlimit, Scheduler, User

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

_U64_MAX: Final = (1 << 64) - 1  # RLIM_INFINITY; decoding accepts bigger ints than Go does
# runc's user.maxID. Above it, 4294967295 is (uid_t)-1, which setresuid(2) and setgroups
# take as "leave unchanged": a config asking for it would run as root.
ID_MAX: Final = (1 << 31) - 1
ID_RANGE: Final = "uids and gids must be in range 0-2147483647"  # runc's ErrRange
_SCHED_POLICIES: Final = frozenset(
    (
        "SCHED_OTHER",
        "SCHED_FIFO",
        "SCHED_RR",
        "SCHED_BATCH",
        "SCHED_ISO",
        "SCHED_IDLE",
        "SCHED_DEADLINE",
    )
)


def quote(text: str) -> str:
    """Go's %q, near enough: runc quotes names this way in its messages."""
    return dumps(text)


def validate_process(process: Process | None) -> None:
    """Raise InvalidConfig, naming the field, if `process` cannot be run."""
    if process is None:
        raise InvalidConfig("process property must not be empty")
    if not process.cwd:
        raise InvalidConfig("Cwd property must not be empty")
    if not posixpath.isabs(process.cwd):
        raise InvalidConfig("Cwd must be an absolute path")
    if not process.args:
        raise InvalidConfig("args must not be empty")
    for entry in process.env:
        # runc's init refuses these: an entry needs a name and "=", and C strings no NUL.
        if "=" not in entry or entry.startswith("=") or "\0" in entry:
            raise InvalidConfig(f"invalid environment variable: {quote(entry)}")
    _user(process.user)
    _rlimits(process.rlimits)
    if process.capabilities is not None:
        _capabilities(process.capabilities)
    if process.scheduler is not None:
        _scheduler(process.scheduler)


def check_id(value: int, where: str) -> None:
    """Refuse a uid or gid outside runc's range, with runc's text and the field."""
    if not 0 <= value <= ID_MAX:
        raise InvalidConfig(f"unable to setup user: {ID_RANGE} ({where}: {value})")


def _user(user: User) -> None:
    check_id(user.uid, "process.user.uid")
    check_id(user.gid, "process.user.gid")
    for i, gid in enumerate(user.additional_gids):
        check_id(gid, f"process.user.additionalGids[{i}]")


def _rlimits(rlimits: list[Rlimit]) -> None:
    seen: set[str] = set()
    for i, rlimit in enumerate(rlimits):
        where = f"process.rlimits[{i}]"
        if rlimit.type not in RLIMITS:
            raise InvalidConfig(f"{where}.type: unknown rlimit {quote(rlimit.type)}")
        if rlimit.type in seen:  # OCI: duplicate types MUST be an error
            raise InvalidConfig(f"{where}.type: duplicate rlimit {quote(rlimit.type)}")
        seen.add(rlimit.type)
        for name, value in (("hard", rlimit.hard), ("soft", rlimit.soft)):
            if value > _U64_MAX:
                raise InvalidConfig(f"{where}.{name}: {value} does not fit in 64 bits")
        if rlimit.soft > rlimit.hard:  # setrlimit(2) would fail with EINVAL at start
            raise InvalidConfig(
                f"{where}: soft limit {rlimit.soft} is above hard limit {rlimit.hard}"
            )


def _capabilities(caps: Capabilities) -> None:
    sets = {
        "bounding": caps.bounding,
        "effective": caps.effective,
        "inheritable": caps.inheritable,
        "permitted": caps.permitted,
        "ambient": caps.ambient,
    }
    for set_name, names in sets.items():
        for name in names:
            if name not in CAPS:
                raise InvalidConfig(
                    f"process.capabilities.{set_name}: unknown capability {quote(name)}"
                )


def _scheduler(sched: Scheduler) -> None:
    """runc 1.2's rules (sched_setattr(2)), with its texts."""
    if not sched.policy:
        raise InvalidConfig("scheduler policy is required")
    if sched.policy not in _SCHED_POLICIES:
        raise InvalidConfig(f"process.scheduler.policy: unknown policy {quote(sched.policy)}")
    if not -20 <= sched.nice <= 19:
        raise InvalidConfig(f"invalid scheduler.nice: {sched.nice}")
    if sched.priority and sched.policy not in ("SCHED_FIFO", "SCHED_RR"):
        raise InvalidConfig(
            "scheduler.priority can only be specified for SchedFIFO or SchedRR policy"
        )
    if sched.policy != "SCHED_DEADLINE" and (sched.runtime or sched.deadline or sched.period):
        raise InvalidConfig(
            "scheduler runtime/deadline/period can only be specified for SchedDeadline policy"
        )
