"""Read what the kernel holds for a process, independently of the runtime's own code:
its cgroup files (found through /proc/<pid>/cgroup and our mountinfo), so a test judges
the runtime by the kernel and never by the runtime reading itself back."""

from __future__ import annotations

from pathlib import Path

import pytest


def hierarchy_mounts() -> dict[str, str]:
    """Controller name (or "" for cgroup2) -> mount point, from our mountinfo."""
    found: dict[str, str] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        fstype, point, opts = fields[sep + 1], fields[4], fields[sep + 3].split(",")
        if fstype == "cgroup2":
            found.setdefault("", point)
        elif fstype == "cgroup":
            for opt in opts:
                found.setdefault(opt, point)
    return found


def mounted_hierarchies() -> set[str]:
    """The controllers (and "" for cgroup2) mounted somewhere we can see."""
    return set(hierarchy_mounts())


def cgroup_dir(pid: int, controller: str = "") -> Path:
    """The directory of `pid`'s cgroup in `controller`'s hierarchy ("" for cgroup2)."""
    mounts = hierarchy_mounts()
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        names = ctrls.split(",") if ctrls else [""]
        if controller in names and controller in mounts:
            return Path(mounts[controller] + path.rstrip("/"))
    pytest.fail(f"pid {pid} has no {controller or 'cgroup2'} cgroup we can see")


def cgroup_file(pid: int, controller: str, name: str) -> str:
    """The content of file `name` in `pid`'s cgroup of `controller`."""
    return (cgroup_dir(pid, controller) / name).read_text()


def is_v2_only() -> bool:
    """Whether this mount namespace shows only the cgroup2 hierarchy (no v1 controllers)."""
    return set(hierarchy_mounts()) <= {""}


def skip_without_controllers(*names: str) -> None:
    """Skip, saying why, when the host is v2-only and its cgroup2 tree lacks a controller
    the test needs (this VM's offers none but hugetlb); on v1 and hybrid hosts, run."""
    if not is_v2_only():
        return
    offered = set(Path("/sys/fs/cgroup/cgroup.controllers").read_text().split())
    missing = [n for n in names if n not in offered]
    if missing:
        pytest.skip(f"needs the {', '.join(missing)} controller, which this host's cgroup2 lacks")


def frozen(directory: Path) -> bool:
    """Whether the kernel says this cgroup is frozen (v2 cgroup.events, or v1 freezer)."""
    events = directory / "cgroup.events"
    if events.exists() and (directory / "cgroup.freeze").exists():
        return "frozen 1" in events.read_text().splitlines()
    return (directory / "freezer.state").read_text().strip() == "FROZEN"
