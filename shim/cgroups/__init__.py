"""Container cgroups: find the hierarchies, resolve the paths, place the processes,
apply resources, freeze, signal, watch (stats and OOM) through one `Manager`.

`state` imports this package on every call, so the managers and the resource checks
load on first use of their names.
"""

from __future__ import annotations

import importlib

from shim.cgroups.hierarchy import (
    Hierarchy,
    Mount,
    parse_mountinfo,
    parse_proc_cgroup,
    read_hierarchy,
    read_own_cgroups,
)
from shim.cgroups.paths import V1_SUBSYSTEMS, container_paths, resolve_paths
from shim.cgroups.placement import add_process, create, is_frozen, planned, procs, remove

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cgroups.checks import check_resources
    from shim.cgroups.manager import HybridManager, V1Manager, V2Manager, manager_for

_LAZY = {
    "check_resources": "shim.cgroups.checks",
    "HybridManager": "shim.cgroups.manager",
    "V1Manager": "shim.cgroups.manager",
    "V2Manager": "shim.cgroups.manager",
    "manager_for": "shim.cgroups.manager",
}

__all__ = [
    "V1_SUBSYSTEMS",
    "Hierarchy",
    "HybridManager",
    "Mount",
    "V1Manager",
    "V2Manager",
    "add_process",
    "check_resources",
    "container_paths",
    "create",
    "is_frozen",
    "manager_for",
    "parse_mountinfo",
    "parse_proc_cgroup",
    "planned",
    "procs",
    "read_hierarchy",
    "read_own_cgroups",
    "remove",
    "resolve_paths",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
