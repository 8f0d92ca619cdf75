"""The OCI runtime spec: Records, loading, validation, and what `spec`/`features` print.

Nothing is imported eagerly: `start` and `delete` need only `oci_state`, and the Record
half (model, load, validate) only `create`, `run` and `exec`. Each name below loads its
module on first use; code inside shim imports the modules.
"""

from __future__ import annotations

from shim import lazy_exports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.spec.busybox import busybox_bundle
    from shim.spec.caps import CAP_NAMES, CAPS, cap_mask
    from shim.spec.default import default_config
    from shim.spec.features import features_json
    from shim.spec.kernel_names import NAMESPACES, PROPAGATIONS, RLIMITS
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

_MODULES = {
    "busybox": ("busybox_bundle",),
    "caps": ("CAP_NAMES", "CAPS", "cap_mask"),
    "default": ("default_config",),
    "features": ("features_json",),
    "kernel_names": ("NAMESPACES", "PROPAGATIONS", "RLIMITS"),
    "load": ("load_process", "load_spec"),
    "model": (
        *("Capabilities", "Device", "Hook", "Hooks", "IDMapping", "Linux", "Mount"),
        *("Namespace", "Process", "Rlimit", "Root", "Seccomp", "Spec", "User"),
    ),
    "process_rules": ("validate_process",),
    "resources": ("Resources",),
    "validate": ("validate_spec",),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

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


__getattr__ = lazy_exports(__name__, _LAZY)
