"""Read what the kernel holds for a process, independently of the runtime's own code:
its cgroup files (found through /proc/<pid>/cgroup and our mountinfo), so a test judges
the runtime by the kernel and never by the runtime reading itself back."""

from __future__ import annotations

from pathlib import Path

import pytest


def _mounts() -> dict[str, str]:
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


def cgroup_dir(pid: int, controller: str = "") -> Path:
    """The directory of `pid`'s cgroup in `controller`'s hierarchy ("" for cgroup2)."""
    mounts = _mounts()
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
    return set(_mounts()) <= {""}
