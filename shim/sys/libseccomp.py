"""libseccomp 2.5, opened with dlopen on first use: typed calls that raise OSError.

cffi's out-of-line ABI mode (`shim.sys._libseccomp`, generated at install from
`_build.LIBSECCOMP_CDEF`): no compiler or libseccomp headers at build time, no cdef
parsing at run time. Only shim.seccomp imports this module, and only once a config
has linux.seccomp.
"""

from __future__ import annotations

import errno
import os

from shim.sys import _check
from shim.sys._libseccomp import ffi

SONAME = "libseccomp.so.2"  # Debian's libseccomp2, a dependency of runc and systemd
_NR_SCMP_ERROR = -1
# enum scmp_filter_attr
ATTR_CTL_NNP = 3
ATTR_CTL_LOG = 6
ATTR_CTL_SSB = 7
ATTR_CTL_OPTIMIZE = 8


TYPE_CHECKING = False  # `typing` costs every create with a seccomp profile ~17 ms here
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Protocol

    class _Version(Protocol):
        major: int
        minor: int
        micro: int

    class _Lib(Protocol):
        """The functions `_build.LIBSECCOMP_CDEF` declares (char * is bytes, pointers object)."""

        def seccomp_version(self) -> _Version: ...
        def seccomp_api_get(self) -> int: ...
        def seccomp_init(self, def_action: int) -> object: ...
        def seccomp_release(self, ctx: object) -> None: ...
        def seccomp_arch_resolve_name(self, arch_name: bytes) -> int: ...
        def seccomp_arch_native(self) -> int: ...
        def seccomp_arch_add(self, ctx: object, arch_token: int) -> int: ...
        def seccomp_attr_set(self, ctx: object, attr: int, value: int) -> int: ...
        def seccomp_syscall_resolve_name(self, name: bytes) -> int: ...
        def seccomp_syscall_resolve_name_arch(self, arch_token: int, name: bytes) -> int: ...
        def seccomp_rule_add_array(
            self, ctx: object, action: int, syscall: int, arg_cnt: int, arg_array: object
        ) -> int: ...
        def seccomp_export_bpf(self, ctx: object, fd: int) -> int: ...


_opened: dict[str, _Lib] = {}  # SONAME -> the library, dlopened once


def _lib() -> _Lib:
    lib = _opened.get(SONAME)
    if lib is None:
        lib = _opened[SONAME] = ffi.dlopen(SONAME)  # OSError when it is missing
    return lib


def version() -> str:
    """libseccomp's version, e.g. "2.5.4"; OSError when it cannot be loaded."""
    v = _lib().seccomp_version()
    return f"{v.major}.{v.minor}.{v.micro}"


def arch_token(name: str) -> int:
    """The SCMP_ARCH_* token (an AUDIT_ARCH_* value, but for x32) of a libseccomp arch name."""
    token = _lib().seccomp_arch_resolve_name(name.encode())
    if token == 0:
        raise OSError(0, f"seccomp_arch_resolve_name: libseccomp does not know {name}")
    return token


def native_arch() -> int:
    return _lib().seccomp_arch_native()


def resolve_syscall(name: str, arch: int | None = None) -> int | None:
    """The syscall's number (native arch by default), None if libseccomp does not know it.

    Negative numbers are libseccomp's pseudo-syscalls: names that exist on another arch of
    the filter (`socketcall` on x86_64); rules take them as they are.
    """
    raw = name.encode()
    lib = _lib()
    nr = (
        lib.seccomp_syscall_resolve_name(raw)
        if arch is None
        else lib.seccomp_syscall_resolve_name_arch(arch, raw)
    )
    return None if nr == _NR_SCMP_ERROR else nr


class Filter:
    """A libseccomp filter context, released on leaving the `with` block."""

    def __init__(self, default_action: int) -> None:
        self._lib = _lib()
        ctx = self._lib.seccomp_init(default_action)
        if ctx == ffi.NULL:
            raise OSError(0, f"seccomp_init: libseccomp refused action {default_action:#x}")
        self._ctx = ctx

    def __enter__(self) -> Filter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._lib.seccomp_release(self._ctx)

    def add_arch(self, token: int) -> None:
        ret = self._lib.seccomp_arch_add(self._ctx, token)
        if ret != -errno.EEXIST:  # the native arch, or one listed twice
            _check(ret, "seccomp_arch_add", negative_errno=True)

    def set_attr(self, attr: int, value: int) -> None:
        ret = self._lib.seccomp_attr_set(self._ctx, attr, value)
        _check(ret, "seccomp_attr_set", negative_errno=True)

    def add_rule(
        self, action: int, syscall: int, conditions: Sequence[tuple[int, int, int, int]]
    ) -> None:
        """`conditions`: (arg, op, datum_a, datum_b), a `struct scmp_arg_cmp` each."""
        args = ffi.new("struct scmp_arg_cmp[]", [tuple(c) for c in conditions])
        ret = self._lib.seccomp_rule_add_array(self._ctx, action, syscall, len(conditions), args)
        _check(ret, "seccomp_rule_add", negative_errno=True)

    def export_bpf(self) -> bytes:
        """The program as seccomp_export_bpf writes it: struct sock_filter[], host order."""
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)  # a pipe could fill up
        try:
            ret = self._lib.seccomp_export_bpf(self._ctx, fd)
            _check(ret, "seccomp_export_bpf", negative_errno=True)
            size = os.fstat(fd).st_size
            chunks: list[bytes] = []
            done = 0
            while done < size:
                chunk = os.pread(fd, size - done, done)
                if not chunk:
                    break
                chunks.append(chunk)
                done += len(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)
