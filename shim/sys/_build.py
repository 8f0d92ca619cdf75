"""cffi build script, run at install (setup.py's cffi_modules): every C declaration
Python uses, parsed here and never at run time.

* `shim.sys._native` (API mode, compiled): csrc/protocol.h verbatim, plus the syscalls
  `os` lacks (prctl, unshare, setns, mount, umount2, openat2, inotify, bpf). The C
  compiler fills in the constants written `...`.
* `shim.sys._libseccomp` (out-of-line ABI mode: a generated .py, nothing compiled): the
  libseccomp 2.5 calls, `dlopen`ed on first use, so a host without libseccomp2 runs
  everything but seccomp, and the build needs no libseccomp headers.
"""

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
    #define PR_SET_CHILD_SUBREAPER ...
    #define PR_GET_CHILD_SUBREAPER ...
    int unshare(int flags);
    int setns(int fd, int nstype);
    int mount(const char *source, const char *target, const char *fstype,
              unsigned long flags, const void *data);
    int umount2(const char *target, int flags);
    struct open_how { uint64_t flags; uint64_t mode; uint64_t resolve; };

    int inotify_init1(int flags);
    int inotify_add_watch(int fd, const char *pathname, uint32_t mask);
    #define IN_MODIFY ...
    #define IN_DELETE_SELF ...
    #define IN_IGNORED ...
    #define IN_NONBLOCK ...
    #define IN_CLOEXEC ...

    long syscall(long number, ...);
    #define SYS_openat2 ...
    #define SYS_bpf ...
    int open_tree(int dfd, const char *filename, unsigned int flags);
    """
)
ffibuilder.set_source(
    "shim.sys._native",
    "#define _GNU_SOURCE\n#include <stdint.h>\n#include <sys/prctl.h>\n#include <sched.h>\n"
    "#include <sys/mount.h>\n#include <sys/inotify.h>\n#include <sys/syscall.h>\n"
    '#include <unistd.h>\n#include <linux/openat2.h>\n#include "protocol.h"\n',
    include_dirs=[CSRC],
)

# From libseccomp 2.5's <seccomp.h>; its enums are passed as int (same ABI).
LIBSECCOMP_CDEF = """
typedef void *scmp_filter_ctx;
struct scmp_version { unsigned int major; unsigned int minor; unsigned int micro; };
struct scmp_arg_cmp { unsigned int arg; int op; uint64_t datum_a; uint64_t datum_b; };

const struct scmp_version *seccomp_version(void);
unsigned int seccomp_api_get(void);
scmp_filter_ctx seccomp_init(uint32_t def_action);
void seccomp_release(scmp_filter_ctx ctx);
uint32_t seccomp_arch_resolve_name(const char *arch_name);
uint32_t seccomp_arch_native(void);
int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_attr_set(scmp_filter_ctx ctx, int attr, uint32_t value);
int seccomp_syscall_resolve_name(const char *name);
int seccomp_syscall_resolve_name_arch(uint32_t arch_token, const char *name);
int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
                           unsigned int arg_cnt, const struct scmp_arg_cmp *arg_array);
int seccomp_export_bpf(const scmp_filter_ctx ctx, int fd);
"""
libseccomp_builder = FFI()
libseccomp_builder.cdef(LIBSECCOMP_CDEF)
libseccomp_builder.set_source("shim.sys._libseccomp", None)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
