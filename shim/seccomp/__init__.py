"""linux.seccomp compiled to classic BPF in the parent; the init helper only loads it.

Nothing is imported eagerly (`shim features` reads only the SUPPORTED_* tuples):
each name below loads its module on first use, and libseccomp, through cffi, is
opened on the first compile_filter or libseccomp_version call.
"""

from __future__ import annotations

from shim import lazy_exports

TYPE_CHECKING = False
if TYPE_CHECKING:
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

_MODULES = {
    "compile": ("CompiledFilter", "compile_filter", "libseccomp_version", "profile_enabled"),
    "names": ("SUPPORTED_ACTIONS", "SUPPORTED_ARCHES", "SUPPORTED_FLAGS", "SUPPORTED_OPERATORS"),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

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


__getattr__ = lazy_exports(__name__, _LAZY)
