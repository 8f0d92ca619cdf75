"""The few syscalls the cgroup code needs that `os` lacks (inotify for the v2 OOM watch,
bpf for the v2 device program): cffi in ABI mode.

ABI mode (`dlopen(None)`: libc, already loaded) keeps them out of the build. Callers
get file descriptors and `OSError`, never `ffi` or errno.
"""

from __future__ import annotations

import os
import struct

from cffi import FFI

IN_MODIFY = 0x00000002
IN_DELETE_SELF = 0x00000400
IN_IGNORED = 0x00008000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
BPF_PROG_LOAD, BPF_PROG_ATTACH = 5, 8
_BPF_ATTR_SIZE = 128  # union bpf_attr, zero-filled past what we set (the kernel checks)
_NR_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361, "s390x": 351}

_ffi = FFI()
_ffi.cdef(
    """
    int inotify_init1(int flags);
    int inotify_add_watch(int fd, const char *pathname, uint32_t mask);
    long syscall(long number, ...);
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


def _bpf(cmd: int, attr: object) -> int:
    nr = _NR_BPF.get(os.uname().machine)
    if nr is None:
        raise OSError(0, f"bpf: no syscall number known for {os.uname().machine}")
    ret = int(
        _libc.syscall(
            _ffi.cast("long", nr), _ffi.cast("long", cmd), attr, _ffi.cast("long", _BPF_ATTR_SIZE)
        )
    )
    return _check(ret, "bpf")


def bpf_prog_load(prog_type: int, insns: bytes, insn_size: int) -> int:
    """BPF_PROG_LOAD: the program's fd. The OSError carries the verifier's last line."""
    code = _ffi.new("char[]", insns)
    license = _ffi.new("char[]", b"Apache")
    log = _ffi.new("char[]", 65536)
    attr = _ffi.new("char[]", _BPF_ATTR_SIZE)
    struct.pack_into(
        "<IIQQIIQ",
        _ffi.buffer(attr),
        0,
        prog_type,
        len(insns) // insn_size,
        int(_ffi.cast("uintptr_t", code)),
        int(_ffi.cast("uintptr_t", license)),
        1,  # log level 1: the verifier says why it refused
        len(log),
        int(_ffi.cast("uintptr_t", log)),
    )
    try:
        return _bpf(BPF_PROG_LOAD, attr)
    except OSError as err:
        said = _ffi.string(log).decode(errors="replace").strip().splitlines()[-1:]
        if said:
            raise OSError(err.errno, f"{err.strerror} ({said[0]})") from None
        raise


def bpf_prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int) -> None:
    """BPF_PROG_ATTACH of `prog_fd` to the cgroup open at `target_fd`."""
    attr = _ffi.new("char[]", _BPF_ATTR_SIZE)
    struct.pack_into("<IIII", _ffi.buffer(attr), 0, target_fd, prog_fd, attach_type, flags)
    _bpf(BPF_PROG_ATTACH, attr)
