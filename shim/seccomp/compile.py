"""compile_filter: `linux.seccomp` to the BPF program the init helper loads, by libseccomp.

The parent compiles; the helper only calls seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)
and carries no libseccomp. Light to import: the profile reader and libseccomp (cffi) load
on the first compile.
"""

from __future__ import annotations

TYPE_CHECKING = False  # `typing` costs start-up time; mypy reads this as True
if TYPE_CHECKING:
    from shim.spec.model import Seccomp


class CompiledFilter:
    """What the helper loads: seccomp(SECCOMP_SET_MODE_FILTER, flags, &{length, bpf})."""

    __slots__ = ("bpf", "flags", "notify")

    def __init__(self, bpf: bytes, flags: int, notify: bool) -> None:
        self.bpf = bpf  # struct sock_filter[] in host order, 8 bytes an instruction
        self.flags = flags  # SECCOMP_FILTER_FLAG_*, NEW_LISTENER when notify
        self.notify = notify  # the load returns a listener fd, for listenerPath

    @property
    def length(self) -> int:
        """sock_fprog.len: the number of instructions."""
        return len(self.bpf) // 8

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompiledFilter):
            return NotImplemented
        return (self.bpf, self.flags, self.notify) == (other.bpf, other.flags, other.notify)

    def __hash__(self) -> int:
        return hash((self.bpf, self.flags, self.notify))

    def __repr__(self) -> str:
        return f"CompiledFilter(<{self.length} insns>, flags={self.flags:#x}, notify={self.notify})"


def profile_enabled(profile: Seccomp) -> bool:
    """False for a profile runc ignores (no seccomp at all): no defaultAction, no syscalls."""
    return bool(profile.default_action or profile.syscalls)


def compile_filter(profile: Seccomp) -> CompiledFilter:
    """Compile `profile` as runc 1.1 does, its -ENOSYS stub included.

    Syscall names libseccomp does not know are skipped (logged at debug level). Raises
    InvalidConfig naming the field for a name runc does not know or a rule libseccomp
    refuses, Unsupported when libseccomp cannot be loaded or the kernel lacks a flag.
    """
    from shim.seccomp.profile import translate
    from shim.seccomp.program import build

    plan = translate(profile)
    return CompiledFilter(build(plan), plan.flags, plan.notify)


def libseccomp_version() -> str:
    """libseccomp's version ("2.5.4"), or "" when it cannot be loaded."""
    from shim.sys import libseccomp

    try:
        return libseccomp.version()
    except OSError:
        return ""
