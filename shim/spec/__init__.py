"""The OCI runtime spec: Structs, loading, validation, and what `spec`/`features` print.

`spec` and `features` must start fast, so the msgspec half (model, load, validate) and
busybox_bundle are imported on first use of one of their names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Final

from shim.spec.caps import CAP_NAMES, CAPS, cap_mask
from shim.spec.default import default_config
from shim.spec.features import features_json
from shim.spec.kernel_names import NAMESPACES, PROPAGATIONS, RLIMITS

if TYPE_CHECKING:
    from shim.spec.busybox import busybox_bundle
    from shim.spec.load import load_process, load_spec
    from shim.spec.model import (
        Capabilities,
        Device,
        Hook,
        Hooks,
        IDMapping,
        Linux,
        Mount,
        Namespace,
        Process,
        Rlimit,
        Root,
        Seccomp,
        Spec,
        User,
    )
    from shim.spec.process_rules import validate_process
    from shim.spec.resources import Resources
    from shim.spec.validate import validate_spec

_LAZY_MODULES: Final = {
    "shim.spec.busybox": ("busybox_bundle",),
    "shim.spec.load": ("load_process", "load_spec"),
    "shim.spec.process_rules": ("validate_process",),
    "shim.spec.validate": ("validate_spec",),
    "shim.spec.resources": ("Resources",),
    "shim.spec.model": (
        *("Capabilities", "Device", "Hook", "Hooks", "IDMapping", "Linux", "Mount"),
        *("Namespace", "Process", "Rlimit", "Root", "Seccomp", "Spec", "User"),
    ),
}
_LAZY: Final = {name: module for module, names in _LAZY_MODULES.items() for name in names}

__all__ = [
    "CAPS",
    "CAP_NAMES",
    "NAMESPACES",
    "PROPAGATIONS",
    "RLIMITS",
    "Capabilities",
    "Device",
    "Hook",
    "Hooks",
    "IDMapping",
    "Linux",
    "Mount",
    "Namespace",
    "Process",
    "Resources",
    "Rlimit",
    "Root",
    "Seccomp",
    "Spec",
    "User",
    "busybox_bundle",
    "cap_mask",
    "default_config",
    "features_json",
    "load_process",
    "load_spec",
    "validate_process",
    "validate_spec",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
