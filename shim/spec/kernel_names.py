"""Names config.json uses for kernel objects, mapped to the kernel's numbers."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Final


# OCI namespace type -> CLONE_NEW* flag (linux/sched.h).
NAMESPACES: Final[Mapping[str, int]] = {
    "mount": 0x00020000,
    "cgroup": 0x02000000,
    "uts": 0x04000000,
    "ipc": 0x08000000,
    "user": 0x10000000,
    "pid": 0x20000000,
    "network": 0x40000000,
    "time": 0x00000080,
}

# OCI rlimit type -> resource number (asm-generic/resource.h; the same on x86 and arm).
RLIMITS: Final[Mapping[str, int]] = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}

# linux.rootfsPropagation -> MS_* flags (linux/mount.h).
PROPAGATIONS: Final[Mapping[str, int]] = {
    "shared": 1 << 20,
    "slave": 1 << 19,
    "private": 1 << 18,
    "unbindable": 1 << 17,
    "rshared": (1 << 20) | 0x4000,  # | MS_REC
    "rslave": (1 << 19) | 0x4000,
    "rprivate": (1 << 18) | 0x4000,
    "runbindable": (1 << 17) | 0x4000,
}

DEVICE_TYPES: Final[frozenset[str]] = frozenset({"c", "b", "u", "p"})  # u: unbuffered char
