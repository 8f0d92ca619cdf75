"""The few syscalls the cgroup watchers need that `os` lacks: cffi in ABI mode.

ABI mode (`dlopen(None)`: libc, already loaded) keeps them out of the build. Callers
get file descriptors and `OSError`, never `ffi` or errno.
"""

from __future__ import annotations

import os

from cffi import FFI

IN_MODIFY = 0x00000002
IN_DELETE_SELF = 0x00000400
IN_IGNORED = 0x00008000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_ffi = FFI()
_ffi.cdef(
    """
    int inotify_init1(int flags);
    int inotify_add_watch(int fd, const char *pathname, uint32_t mask);
    """
)
_libc = _ffi.dlopen(None)


def _check(ret: int, call: str, path: str | None = None) -> int:
    if ret == -1:
        err = _ffi.errno
        raise OSError(err, f"{call}: {os.strerror(err)}", path)
    return ret


def inotify_init() -> int:
    """A non-blocking, close-on-exec inotify fd."""
    return _check(int(_libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)), "inotify_init1")


def inotify_add_watch(fd: int, path: str, mask: int) -> int:
    return _check(
        int(_libc.inotify_add_watch(fd, os.fsencode(path), mask)), "inotify_add_watch", path
    )
