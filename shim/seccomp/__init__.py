"""linux.seccomp compiled to classic BPF in the parent; the init helper only loads it."""

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
]
