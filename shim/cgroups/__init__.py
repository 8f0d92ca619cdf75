"""Container cgroups: find the hierarchies, resolve the paths, place the processes,
apply resources, freeze, signal, watch (stats and OOM) through one `Manager`.

Nothing is imported eagerly: `state` needs only `placement`, `kill` the manager, and
each name below loads its module on first use. Code inside shim imports the modules.
"""

from __future__ import annotations

from shim import lazy_exports

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cgroups.checks import check_resources
    from shim.cgroups.hierarchy import (
        Hierarchy,
        Mount,
        parse_mountinfo,
        parse_proc_cgroup,
        read_hierarchy,
        read_own_cgroups,
    )
    from shim.cgroups.manager import HybridManager, V1Manager, V2Manager, manager_for
    from shim.cgroups.paths import V1_SUBSYSTEMS, container_paths, resolve_paths
    from shim.cgroups.placement import add_process, create, is_frozen, planned, procs, remove

_MODULES = {
    "checks": ("check_resources",),
    "hierarchy": (
        *("Hierarchy", "Mount", "parse_mountinfo", "parse_proc_cgroup"),
        *("read_hierarchy", "read_own_cgroups"),
    ),
    "manager": ("HybridManager", "V1Manager", "V2Manager", "manager_for"),
    "paths": ("V1_SUBSYSTEMS", "container_paths", "resolve_paths"),
    "placement": ("add_process", "create", "is_frozen", "planned", "procs", "remove"),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

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


__getattr__ = lazy_exports(__name__, _LAZY)
