"""linux.seccomp compiled to classic BPF in the parent; the init helper only loads it.

Cheap to import (`shim features` reads the SUPPORTED_* tuples): libseccomp, through
cffi, is opened on the first compile_filter or libseccomp_version call.
"""

from shim.seccomp.compile import (
    CompiledFilter,
    compile_filter,
    libseccomp_version,
    profile_enabled,
)
from shim.seccomp.names import (
    SUPPORTED_ACTIONS,
    SUPPORTED_ARCHES,
    SUPPORTED_FLAGS,
    SUPPORTED_OPERATORS,
)

__all__ = [
    "SUPPORTED_ACTIONS",
    "SUPPORTED_ARCHES",
    "SUPPORTED_FLAGS",
    "SUPPORTED_OPERATORS",
    "CompiledFilter",
    "compile_filter",
    "libseccomp_version",
    "profile_enabled",
]
