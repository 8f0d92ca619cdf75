"""cgroup v1 cpu and cpuset under a parent cgroup made beforehand (as a client's slice
would be), side by side with runc 1.1.5, judged by the kernel's files."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BundleFactory, Shim, needs_busybox, needs_root
from tests.integration._kernel_files import cgroup_dir
from tests.integration._runc_compare import needs_runc, pid_of

pytestmark = [needs_root, needs_busybox, needs_runc, pytest.mark.privileged]

V1 = Path("/sys/fs/cgroup")


def _v1_controller(name: str) -> Path:
    if not (V1 / name / "tasks").exists():
        pytest.skip(f"needs the v1 {name} controller (this host's cgroup2 tree has no {name})")
    return V1 / name


@pytest.fixture
def parent() -> Iterator[str]:
    """A unique top-level cgroup name; every hierarchy's dir of that name (and whatever a
    runtime left below it) is removed afterwards."""
    name = f"shim-parent-{uuid.uuid4().hex[:8]}"
    yield name
    left = []
    for top in [*V1.glob(f"*/{name}"), V1 / name]:
        if top.is_dir():
            for child in sorted(top.iterdir(), reverse=True):
                if child.is_dir():
                    left.append(str(child))
                    child.rmdir()
            top.rmdir()
    assert left == [], f"container cgroups left under the parent: {left}"


def _in(parent: str, child: str) -> Callable[[dict[str, Any]], None]:
    def edit(c: dict[str, Any]) -> None:
        c["linux"]["cgroupsPath"] = f"/{parent}/{child}"

    return edit


@pytest.mark.parametrize("preset", ["", "last"], ids=["empty", "narrower"])
def test_a_premade_cpuset_parent_is_filled_and_passed_on_as_runc_does(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str, parent: str, preset: str
) -> None:
    """An empty parent cpuset is filled from its own parent first (else the child may not
    get any cpu); a narrower one stays, and the container gets exactly its set."""
    cpuset = _v1_controller("cpuset")
    top = (cpuset / "cpuset.cpus").read_text().strip()
    last = str((os.cpu_count() or 1) - 1)
    seen = []
    for tool, name in ((shim, cid), (runc, rid)):
        made = cpuset / parent
        made.mkdir(exist_ok=True)
        if preset:
            (made / "cpuset.mems").write_text((cpuset / "cpuset.mems").read_text())
            (made / "cpuset.cpus").write_text(last)
        script = "grep Cpus_allowed_list /proc/self/status"
        bundle = make_bundle(["sh", "-c", script], edit=_in(parent, name), name=f"b-{name}")
        res = tool("run", "--bundle", str(bundle), name)
        assert res.code == 0, res
        seen.append((res.out.split()[-1], (made / "cpuset.cpus").read_text().strip()))
    want = last if preset else top
    assert seen[1] == (want, want), seen
    assert seen[0] == seen[1]


UPDATES = [
    ["--cpu-quota", "60000"],  # above the parent's 50000/100000: the kernel refuses
    ["--cpu-quota", "40000"],
    ["--cpu-period", "50000", "--cpu-quota", "25000"],  # period first fails alone: retried
    ["--cpu-period", "20000"],  # 25000/20000 would exceed the parent: refused
    ["--cpu-period", "100000", "--cpu-quota", "50000"],
    ["--cpu-quota", "-1"],
]


def test_cpu_quota_updates_under_a_parent_limit_behave_as_runcs(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str, parent: str
) -> None:
    cpu = _v1_controller("cpu")
    rows = []
    for tool, name in ((shim, cid), (runc, rid)):
        (cpu / parent).mkdir(exist_ok=True)
        (cpu / parent / "cpu.cfs_quota_us").write_text("50000")
        bundle = make_bundle(["sleep", "100"], edit=_in(parent, name), name=f"b-{name}")
        tool.ok("run", "-d", "--bundle", str(bundle), name)
        directory = cgroup_dir(pid_of(tool, name), "cpu")
        row = []
        for args in UPDATES:
            res = tool("update", *args, name)
            quota = (directory / "cpu.cfs_quota_us").read_text().strip()
            period = (directory / "cpu.cfs_period_us").read_text().strip()
            row.append((" ".join(args), res.code, quota, period))
        tool.ok("delete", "--force", name)
        rows.append(row)
    assert [r[1] for r in rows[1]] == [1, 0, 0, 1, 0, 0], rows[1]
    assert rows[0] == rows[1]
