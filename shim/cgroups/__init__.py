"""Container cgroups: find the hierarchies, resolve the paths, place the processes."""

from shim.cgroups.hierarchy import (
    Hierarchy,
    Mount,
    parse_mountinfo,
    parse_proc_cgroup,
    read_hierarchy,
    read_own_cgroups,
)
from shim.cgroups.paths import V1_SUBSYSTEMS, container_paths, resolve_paths
from shim.cgroups.placement import add_process, create, is_frozen, procs, remove

__all__ = [
    "V1_SUBSYSTEMS",
    "Hierarchy",
    "Mount",
    "add_process",
    "container_paths",
    "create",
    "is_frozen",
    "parse_mountinfo",
    "parse_proc_cgroup",
    "procs",
    "read_hierarchy",
    "read_own_cgroups",
    "remove",
    "resolve_paths",
]
