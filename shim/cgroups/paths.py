"""Where a container's cgroup goes in each hierarchy: runc 1.1's cgroupfs rules.

`linux.cgroupsPath`, cleaned, is either
    absolute  `/a/b`  -> `<mountpoint>/a/b`
    relative  `a/b`   -> `<mountpoint>/<own cgroup>/a/b`   (own = this process's cgroup
                         in that hierarchy, from /proc/self/cgroup, minus the mount root)
    empty             -> as relative, with the container id as the path.
Quirks copied from runc 1.1: on pure v2 the own cgroup's *parent* is used (the
runtime's own cgroup has processes, so it could not delegate controllers to a child);
in hybrid mode the unified dir is always `<unified mountpoint>/<path>`, whatever the
own cgroup. The result maps each v1 controller (and `name=systemd`) to its directory,
`""` to the unified one: the `cgroup_paths` of runc's state.json.
"""

from __future__ import annotations

from shim.cgroups.hierarchy import read_hierarchy, read_own_cgroups
from shim.errors import CgroupError, InvalidConfig

TYPE_CHECKING = False  # typing stays unimported at run time
if TYPE_CHECKING:
    from collections.abc import Mapping

    from shim.cgroups.hierarchy import Hierarchy, Mount

# runc 1.1 fs driver's subsystems, in its order; other controllers (debug...) and
# other named hierarchies are left alone, as runc does.
V1_SUBSYSTEMS = (
    "cpuset",
    "devices",
    "memory",
    "cpu",
    "cpuacct",
    "pids",
    "blkio",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "freezer",
    "rdma",
    "name=systemd",
    "misc",
)


def resolve_paths(
    hierarchy: Hierarchy, own: Mapping[str, str], cgroups_path: str, container_id: str
) -> dict[str, str]:
    """The container's cgroup directory in every hierarchy (sans-IO).

    `own` is `parse_proc_cgroup` of the runtime's own /proc/self/cgroup.
    Raises `InvalidConfig` when `cgroups_path` climbs out with `..` or names no cgroup
    below the root, `CgroupError` when the devices controller is missing on v1 (runc
    refuses to run without it) or the own cgroup lies outside the mounted tree.
    """
    if cgroups_path:
        absolute, inner = cgroups_path.startswith("/"), _clean(cgroups_path, "linux.cgroupsPath")
    else:
        absolute, inner = False, _clean(container_id, "container id")
    unified = hierarchy.unified
    if hierarchy.mode == "v2" and unified is not None:  # v2 always has it
        return {"": _v2_dir(unified, own, absolute, inner)}
    paths: dict[str, str] = {}
    for name in V1_SUBSYSTEMS:
        mount = hierarchy.v1.get(name)
        if mount is None:
            continue
        if absolute:
            paths[name] = _join(mount.mountpoint, inner)
        elif name in own:  # mounted but not ours to see: runc skips it too
            paths[name] = _join(_own_dir(mount, own[name], name), inner)
    if "devices" not in paths:
        raise CgroupError("cgroup mountpoint for devices not found")
    if hierarchy.mode == "hybrid" and unified is not None:
        paths[""] = _join(unified.mountpoint, inner)
    return paths


def container_paths(cgroups_path: str, container_id: str) -> dict[str, str]:
    """`resolve_paths` for this host and this process. Raises as `resolve_paths`."""
    return resolve_paths(read_hierarchy(), read_own_cgroups(), cgroups_path, container_id)


def _v2_dir(unified: Mount, own: Mapping[str, str], absolute: bool, inner: str) -> str:
    if absolute:
        return _join(unified.mountpoint, inner)
    own_cgroup = own.get("")
    if own_cgroup is None:
        raise CgroupError("no cgroup2 entry (0::) in /proc/self/cgroup")
    parent = own_cgroup.rsplit("/", 1)[0] or "/"
    return _join(_own_dir(unified, parent, "cgroup2"), inner)


def _own_dir(mount: Mount, own_cgroup: str, name: str) -> str:
    # /proc/self/cgroup paths are relative to the cgroup namespace; the mount may show
    # a subtree only (bind mount, nested container), so strip its root first.
    root = mount.root.rstrip("/")
    if own_cgroup != root and not own_cgroup.startswith(root + "/"):
        raise CgroupError(
            f"own {name} cgroup {own_cgroup} is outside the mounted {mount.root} "
            f"at {mount.mountpoint}"
        )
    return _join(mount.mountpoint, own_cgroup[len(root) :])


def _clean(path: str, label: str) -> str:
    """Normalise `path` to `a/b` form; `..` may not climb above where it starts.

    runc clamps such a path silently (`../../x` becomes `x`); refusing it is safer
    than creating a cgroup somewhere the config did not say.
    """
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part != "..":
            parts.append(part)
        elif parts:
            parts.pop()
        else:
            raise InvalidConfig(f'invalid {label} {path!r}: ".." leads out of the cgroup tree')
    if not parts:
        raise InvalidConfig(f"invalid {label} {path!r}: names no cgroup below the root")
    return "/".join(parts)


def _join(base: str, rel: str) -> str:
    rel = rel.strip("/")
    base = base.rstrip("/") or "/"
    if not rel:
        return base
    return f"{base}/{rel}" if base != "/" else f"/{rel}"
