"""Linux capability names, in kernel number order, and their bit masks."""

from __future__ import annotations

from shim.errors import InvalidConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Final

# linux/capability.h: the position in this tuple is the capability's number.
CAP_NAMES: Final[tuple[str, ...]] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

CAPS: Final[Mapping[str, int]] = {name: number for number, name in enumerate(CAP_NAMES)}
CAP_LAST: Final[int] = len(CAP_NAMES) - 1  # CAP_CHECKPOINT_RESTORE, Linux 5.9


def cap_mask(names: Iterable[str]) -> int:
    """The capability set holding `names` as a bit mask (bit n is capability n).

    Raises InvalidConfig for a name that is not a Linux capability.
    """
    mask = 0
    for name in names:
        number = CAPS.get(name)
        if number is None:
            raise InvalidConfig(f'unknown capability "{name}"')
        mask |= 1 << number
    return mask
