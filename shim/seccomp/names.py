"""The `linux.seccomp` vocabulary runc 1.1 accepts, and what each name means below.

Actions are libseccomp's SCMP_ACT_* values (the kernel's SECCOMP_RET_* with room for
data), operators its `enum scmp_compare`, architectures its arch names (resolved to
SCMP_ARCH_* tokens when compiling), flags the seccomp(2) SECCOMP_FILTER_FLAG_* bits.
Imports nothing: `shim features` reads the SUPPORTED_* tuples.
"""

from __future__ import annotations

TYPE_CHECKING = False  # `typing` costs start-up time; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Final

ACT_KILL_THREAD: Final = 0x00000000
ACT_KILL_PROCESS: Final = 0x80000000
ACT_TRAP: Final = 0x00030000
ACT_ERRNO: Final = 0x00050000  # | the errno the syscall fails with
ACT_TRACE: Final = 0x7FF00000  # | the message a ptrace tracer reads
ACT_LOG: Final = 0x7FFC0000
ACT_ALLOW: Final = 0x7FFF0000
ACT_NOTIFY: Final = 0x7FC00000
ACTION_DATA: Final = 0x0000FFFF  # the low 16 bits of an action value
MAX_ERRNO: Final = 4095  # libseccomp refuses SCMP_ACT_ERRNO above it (the kernel's limit)

ACTIONS: Final[Mapping[str, int]] = {
    "SCMP_ACT_KILL": ACT_KILL_THREAD,  # the kernel's old name for KILL_THREAD
    "SCMP_ACT_KILL_PROCESS": ACT_KILL_PROCESS,
    "SCMP_ACT_KILL_THREAD": ACT_KILL_THREAD,
    "SCMP_ACT_TRAP": ACT_TRAP,
    "SCMP_ACT_ERRNO": ACT_ERRNO,
    "SCMP_ACT_TRACE": ACT_TRACE,
    "SCMP_ACT_ALLOW": ACT_ALLOW,
    "SCMP_ACT_LOG": ACT_LOG,
    "SCMP_ACT_NOTIFY": ACT_NOTIFY,
}

OPERATORS: Final[Mapping[str, int]] = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,  # (arg & value) == valueTwo
}

# OCI name -> libseccomp's name for seccomp_arch_resolve_name (runc 1.1's list).
ARCHES: Final[Mapping[str, str]] = {
    "SCMP_ARCH_X86": "x86",
    "SCMP_ARCH_X86_64": "x86_64",
    "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_ARM": "arm",
    "SCMP_ARCH_AARCH64": "aarch64",
    "SCMP_ARCH_MIPS": "mips",
    "SCMP_ARCH_MIPS64": "mips64",
    "SCMP_ARCH_MIPS64N32": "mips64n32",
    "SCMP_ARCH_MIPSEL": "mipsel",
    "SCMP_ARCH_MIPSEL64": "mipsel64",
    "SCMP_ARCH_MIPSEL64N32": "mipsel64n32",
    "SCMP_ARCH_PPC": "ppc",
    "SCMP_ARCH_PPC64": "ppc64",
    "SCMP_ARCH_PPC64LE": "ppc64le",
    "SCMP_ARCH_RISCV64": "riscv64",
    "SCMP_ARCH_S390": "s390",
    "SCMP_ARCH_S390X": "s390x",
}

FLAG_TSYNC: Final = 1 << 0
FLAG_LOG: Final = 1 << 1
FLAG_SPEC_ALLOW: Final = 1 << 2
FLAG_NEW_LISTENER: Final = 1 << 3  # set by us when a rule notifies, never by a profile

# OCI flag -> the bit passed to seccomp(2). runc 1.1 accepts TSYNC and drops it: the
# process that loads the filter is single-threaded, and TSYNC with NEW_LISTENER is EINVAL.
FLAGS: Final[Mapping[str, int]] = {
    "SECCOMP_FILTER_FLAG_TSYNC": 0,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": FLAG_SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_LOG": FLAG_LOG,
}

# What `shim features` lists: sorted, as runc does (flags in runc's own order).
SUPPORTED_ACTIONS: Final = tuple(sorted(ACTIONS))
SUPPORTED_OPERATORS: Final = tuple(sorted(OPERATORS))
SUPPORTED_ARCHES: Final = tuple(sorted(ARCHES))
SUPPORTED_FLAGS: Final = tuple(FLAGS)
