"""Syscalls `os` lacks, through cffi modules built at install from shim/sys/_build.py:
`_native` (compiled: prctl, mount, umount2, unshare, setns, openat2, inotify, bpf, and the
helper protocol's constants) and `_libseccomp` (libseccomp, dlopened on first use;
wrapped in `shim.sys.libseccomp`).

Callers never see ffi or errno: failures are OSError. Importing this package is free;
each wrapper loads `_native` on its first call.
"""

from __future__ import annotations

import os
import struct

BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
_BPF_ATTR_SIZE = 128  # union bpf_attr, zero-filled past what we set (the kernel checks)


def _check(ret: int, call: str, path: str | None = None, *, negative_errno: bool = False) -> int:
    """`ret`, or OSError naming `call` (and `path`): -1 with errno set (libc), or, with
    `negative_errno`, any negative value that is `-errno` itself (libseccomp)."""
    if negative_errno and ret < 0:
        raise OSError(-ret, f"{call}: {os.strerror(-ret)}", path)
    if ret == -1 and not negative_errno:
        from shim.sys._native import ffi

        err = ffi.errno
        raise OSError(err, f"{call}: {os.strerror(err)}", path)
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


def inotify_init() -> int:
    """A non-blocking, close-on-exec inotify fd."""
    from shim.sys._native import lib

    return _check(lib.inotify_init1(lib.IN_NONBLOCK | lib.IN_CLOEXEC), "inotify_init1")


def inotify_add_watch(fd: int, path: str, mask: int) -> int:
    """A watch of `path` for the events in `mask` (`inotify_flags`, or the kernel's values)."""
    from shim.sys._native import lib

    return _check(lib.inotify_add_watch(fd, os.fsencode(path), mask), "inotify_add_watch", path)


def inotify_flags(*names: str) -> int:
    """The IN_* constants named, ORed, as <sys/inotify.h> defines them."""
    from shim.sys._native import lib

    mask = 0
    for name in names:
        mask |= getattr(lib, name)
    return mask


def _bpf(cmd: int, attr: object) -> int:
    from shim.sys._native import ffi, lib

    size = ffi.cast("long", _BPF_ATTR_SIZE)
    return _check(lib.syscall(lib.SYS_bpf, ffi.cast("long", cmd), attr, size), "bpf")


def bpf_prog_load(prog_type: int, insns: bytes, insn_size: int) -> int:
    """BPF_PROG_LOAD: the program's fd. The OSError carries the verifier's last line."""
    from shim.sys._native import ffi

    code = ffi.new("char[]", insns)
    license = ffi.new("char[]", b"Apache")
    log = ffi.new("char[]", 65536)
    attr = ffi.new("char[]", _BPF_ATTR_SIZE)
    struct.pack_into(
        "<IIQQIIQ",
        ffi.buffer(attr),
        0,
        prog_type,
        len(insns) // insn_size,
        int(ffi.cast("uintptr_t", code)),
        int(ffi.cast("uintptr_t", license)),
        1,  # log level 1: the verifier says why it refused
        len(log),
        int(ffi.cast("uintptr_t", log)),
    )
    try:
        return _bpf(BPF_PROG_LOAD, attr)
    except OSError as err:
        said = ffi.string(log).decode(errors="replace").strip().splitlines()[-1:]
        if said:
            raise OSError(err.errno, f"{err.strerror} ({said[0]})") from None
        raise


def bpf_prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int) -> None:
    """BPF_PROG_ATTACH of `prog_fd` to the cgroup open at `target_fd`."""
    from shim.sys._native import ffi

    attr = ffi.new("char[]", _BPF_ATTR_SIZE)
    struct.pack_into("<IIII", ffi.buffer(attr), 0, target_fd, prog_fd, attach_type, flags)
    _bpf(BPF_PROG_ATTACH, attr)


# <sys/mount.h>, <fcntl.h>: not in the cdef, whose constants mirror csrc/protocol.h
_OPEN_TREE_CLONE, _OPEN_TREE_CLOEXEC, _AT_RECURSIVE, _AT_FDCWD = 1, os.O_CLOEXEC, 0x8000, -100


def open_tree_clone(path: str, recursive: bool) -> int:
    """open_tree(OPEN_TREE_CLONE): a detached copy of the mount tree at `path` (just its top
    mount unless `recursive`), as a close-on-exec fd. The copy can be attached in another
    mount namespace, and whoever attaches it needs no access to `path` itself."""
    from shim.sys._native import ffi, lib

    flags = _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC | (_AT_RECURSIVE if recursive else 0)
    fd = lib.open_tree(_AT_FDCWD, os.fsencode(path), ffi.cast("unsigned int", flags))
    return _check(int(fd), f"open_tree {path}")
