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
