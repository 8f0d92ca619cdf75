"""cffi build script: the only cdef, read verbatim from csrc/protocol.h, plus what `os` lacks."""

import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join(HERE, "..", "..", "csrc")

ffibuilder = FFI()
with open(os.path.join(CSRC, "protocol.h")) as header:
    ffibuilder.cdef(header.read())
ffibuilder.cdef(
    """
    int prctl(int option, ...);
    #define PR_SET_CHILD_SUBREAPER 36
    #define PR_GET_CHILD_SUBREAPER 37
    int unshare(int flags);
    int setns(int fd, int nstype);
    int mount(const char *source, const char *target, const char *fstype,
              unsigned long flags, const void *data);
    int umount2(const char *target, int flags);
    struct open_how { uint64_t flags; uint64_t mode; uint64_t resolve; };
    long syscall(long number, ...);
    #define SYS_openat2 437
    """
)
ffibuilder.set_source(
    "shim.sys._native",
    "#define _GNU_SOURCE\n#include <stdint.h>\n#include <sys/prctl.h>\n#include <sched.h>\n"
    "#include <sys/mount.h>\n#include <sys/syscall.h>\n#include <unistd.h>\n"
    '#include <linux/openat2.h>\n#include "protocol.h"\n',
    include_dirs=[CSRC],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
