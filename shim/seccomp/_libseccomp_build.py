"""Generates `_libseccomp_ffi.py`: libseccomp's cdef for cffi's out-of-line ABI mode.

Out-of-line, so the cdef is parsed here, once, not by pycparser on every `create` (~40 ms);
ABI mode, so nothing is compiled: the module only `dlopen`s libseccomp.so.2 at run time.
Run `python -m shim.seccomp._libseccomp_build` after changing CDEF and commit the output;
tests/unit/test_seccomp_compile.py fails while the two disagree.
"""

from __future__ import annotations

import os

# From libseccomp 2.5's <seccomp.h>; its enums are passed as int (same ABI).
CDEF = """
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
MODULE = "shim.seccomp._libseccomp_ffi"
# The generated code is cffi's, not ours: no linting, formatting or type checking.
HEADER = "# ruff: noqa\n# fmt: off\n# mypy: ignore-errors\n"


def generate() -> str:
    """The text of `_libseccomp_ffi.py` for CDEF."""
    import tempfile

    from cffi import FFI, recompiler

    ffi = FFI()
    ffi.cdef(CDEF)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "out.py")
        recompiler.make_py_source(ffi, MODULE, path)
        with open(path) as generated:
            return HEADER + generated.read()


if __name__ == "__main__":
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_libseccomp_ffi.py")
    with open(path, "w") as target:
        target.write(generate())
