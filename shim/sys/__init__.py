"""Syscalls `os` lacks, through cffi (`shim.sys._native`, built from shim/sys/_build.py).

Callers never see ffi or errno: failures are OSError.
"""

from __future__ import annotations

import os


def _check(ret: int, call: str) -> int:
    if ret == -1:
        from shim.sys._native import ffi

        err = ffi.errno
        raise OSError(err, f"{call}: {os.strerror(err)}")
    return ret


def set_child_subreaper(on: bool = True) -> None:
    """prctl(PR_SET_CHILD_SUBREAPER): orphans of our children are reparented to us."""
    from shim.sys._native import ffi, lib

    _check(lib.prctl(lib.PR_SET_CHILD_SUBREAPER, ffi.cast("unsigned long", int(on))), "prctl")


_MNT_DETACH = 2  # <sys/mount.h>; not in the cdef, whose constants mirror csrc/protocol.h


def unmount_detach(target: str) -> bool:
    """umount2(MNT_DETACH). False if nothing is mounted there (EINVAL) or it is gone (ENOENT)."""
    import errno

    from shim.sys._native import ffi, lib

    if lib.umount2(target.encode(), _MNT_DETACH) == 0:
        return True
    err = ffi.errno
    if err in (errno.EINVAL, errno.ENOENT):
        return False
    raise OSError(err, f"umount {target}: {os.strerror(err)}", target)


def mount(source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
    """mount(2); OSError naming the target on failure."""
    from shim.sys._native import ffi, lib

    raw = data.encode() if data else ffi.NULL
    if lib.mount(source.encode(), target.encode(), fstype.encode(), flags, raw) != 0:
        err = ffi.errno
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}", target)


def unshare(flags: int) -> None:
    from shim.sys._native import lib

    _check(lib.unshare(flags), "unshare")


RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10


def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2): `path` resolved under `dirfd` with the `resolve` rules (RESOLVE_IN_ROOT:
    `..` and absolute symlinks stay inside dirfd). Retries on EAGAIN (a concurrent rename)."""
    from shim.sys._native import ffi, lib

    how = ffi.new("struct open_how *", {"flags": flags, "mode": mode, "resolve": resolve})
    raw = ffi.new("char[]", path.encode())
    while True:
        ret = lib.syscall(
            lib.SYS_openat2,
            ffi.cast("int", dirfd),
            raw,
            how,
            ffi.cast("size_t", ffi.sizeof("struct open_how")),
        )
        if ret >= 0:
            return int(ret)
        err = ffi.errno
        if err not in (11, 4):  # EAGAIN, EINTR
            raise OSError(err, f"openat2 {path}: {os.strerror(err)}", path)


def setns(fd: int, nstype: int) -> None:
    """setns(2) for the calling thread (a network namespace is per thread)."""
    from shim.sys._native import lib

    _check(lib.setns(fd, nstype), "setns")
