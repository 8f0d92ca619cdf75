"""The cgroup v2 driver's file logic against a temporary fake tree (plain files).

This host's cgroup2 tree has no controllers, so what each resource writes where is
checked here; `tests/integration/test_cgroups_v2_core.py` covers the controller-free
parts (freeze, kill, procs) on the real kernel.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shim.cgroups.manager import HybridManager, V1Manager, V2Manager, manager_for
from shim.cgroups.v2 import (
    apply_v2,
    blkio_to_io_weight,
    enable_controller,
    shares_to_weight,
    swap_to_v2,
    weight_to_shares,
)
from shim.errors import CgroupError, InvalidConfig, Unsupported
from shim.record_decoder import decode_json
from shim.spec.resources import Resources

FILES = [
    "cpu.weight",
    "cpu.max",
    "cpu.max.burst",
    "cpu.idle",
    "cpuset.cpus",
    "cpuset.mems",
    "memory.max",
    "memory.swap.max",
    "memory.low",
    "memory.high",
    "pids.max",
    "io.weight",
    "io.max",
    "hugetlb.2MB.max",
]
CONTROLLERS = "cpuset cpu io memory hugetlb pids"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root (all controllers) / mid / c1: controllers not enabled yet below root."""
    root = tmp_path / "root"
    leaf = root / "mid" / "c1"
    leaf.mkdir(parents=True)
    (root / "cgroup.controllers").write_text(CONTROLLERS + "\n")
    for d in (root, root / "mid", leaf):
        (d / "cgroup.subtree_control").write_text("")
    for d in (root / "mid", leaf):
        (d / "cgroup.controllers").write_text("")
    for name in FILES:
        (leaf / name).write_text("")
    (leaf / "memory.current").write_text("4096\n")
    return leaf


def _res(raw: str) -> Resources:
    return decode_json(raw, Resources)


def _read(leaf: Path, name: str) -> str:
    return (leaf / name).read_text()


def test_resources_land_in_the_v2_files(tree: Path) -> None:
    apply_v2(
        str(tree),
        _res(
            '{"memory":{"limit":33554432,"swap":67108864,"reservation":1048576},'
            '"cpu":{"shares":1024,"quota":50000,"period":100000,"burst":1000,"idle":1,'
            '"cpus":"0-1","mems":"0"},"pids":{"limit":10},"blockIO":{"weight":500},'
            '"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}'
        ),
        None,
    )
    assert _read(tree, "memory.max") == "33554432"
    assert _read(tree, "memory.swap.max") == str(67108864 - 33554432)
    assert _read(tree, "memory.low") == "1048576"
    assert _read(tree, "cpu.weight") == str(shares_to_weight(1024))
    assert _read(tree, "cpu.max") == "50000 100000"
    assert _read(tree, "cpu.max.burst") == "1000"
    assert _read(tree, "cpu.idle") == "1"
    assert _read(tree, "cpuset.cpus") == "0-1"
    assert _read(tree, "pids.max") == "10"
    assert _read(tree, "io.weight") == str(blkio_to_io_weight(500))
    assert _read(tree, "hugetlb.2MB.max") == "4194304"


def test_needed_controllers_are_enabled_from_the_top(tree: Path) -> None:
    apply_v2(str(tree), _res('{"pids":{"limit":-1}}'), None)
    root, mid = tree.parent.parent, tree.parent
    assert (root / "cgroup.subtree_control").read_text() == "+pids"
    assert (mid / "cgroup.subtree_control").read_text() == "+pids"
    assert _read(tree, "pids.max") == "max"


def test_a_controller_the_root_lacks_is_refused_naming_the_field(tree: Path) -> None:
    with pytest.raises(Unsupported, match=r"^linux\.resources\.unified\.rdma\.max: the rdma"):
        enable_controller(str(tree), "rdma", "linux.resources.unified.rdma.max")


def test_unlimited_values_are_written_as_max(tree: Path) -> None:
    apply_v2(str(tree), _res('{"memory":{"limit":-1},"cpu":{"quota":-1,"period":50000}}'), None)
    assert _read(tree, "memory.max") == "max"
    assert _read(tree, "memory.swap.max") == "max"  # unlimited memory, swap unset: both
    assert _read(tree, "cpu.max") == "max 50000"


def test_period_alone_keeps_the_quota_that_is_there(tree: Path) -> None:
    (tree / "cpu.max").write_text("20000 100000\n")
    apply_v2(str(tree), _res('{"cpu":{"period":50000}}'), None)
    assert _read(tree, "cpu.max") == "20000 50000"


def test_unified_is_written_last_and_wins(tree: Path) -> None:
    apply_v2(str(tree), _res('{"cpu":{"shares":1024},"unified":{"cpu.weight":"42"}}'), None)
    assert _read(tree, "cpu.weight") == "42"


def test_unified_key_without_a_file_is_refused_naming_it(tree: Path) -> None:
    with pytest.raises(Unsupported, match=r"^linux\.resources\.unified\.memory\.oom\.group"):
        apply_v2(str(tree), _res('{"unified":{"memory.oom.group":"1"}}'), None)


def test_check_before_update_refuses_a_limit_below_usage(tree: Path) -> None:
    res = _res('{"memory":{"limit":4096,"checkBeforeUpdate":true}}')
    with pytest.raises(CgroupError, match="rejecting memory limit 4096 below current usage 4096"):
        apply_v2(str(tree), res, None)
    assert _read(tree, "memory.max") == ""  # nothing written


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"network":{"classID":1}}', "net_cls and net_prio exist only on cgroup v1"),
        ('{"cpu":{"realtimeRuntime":1000}}', "realtime cpu limits need cgroup v1"),
        ('{"memory":{"swap":1000}}', "unable to set swap limit without memory limit"),
    ],
)
def test_what_v2_cannot_do_is_refused(tree: Path, raw: str, message: str) -> None:
    with pytest.raises(InvalidConfig, match=message):
        apply_v2(str(tree), _res(raw), None)


def test_device_rules_outside_a_cgroup2_dir_fail_naming_the_field(tree: Path) -> None:
    from shim.cgroups.devices import Rule

    with pytest.raises(CgroupError, match=r"^linux\.resources\.devices: attach"):
        apply_v2(str(tree), _res("{}"), [Rule(True, "c", 1, 3, "rwm")])


def test_per_device_weight_needs_bfq(tree: Path) -> None:
    raw = '{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":100}]}}'
    with pytest.raises(Unsupported, match=r"weightDevice\[0\]: .*bfq"):
        apply_v2(str(tree), _res(raw), None)
    (tree / "io.bfq.weight").write_text("")
    apply_v2(str(tree), _res(raw), None)
    assert _read(tree, "io.bfq.weight") == "8:0 100"


def test_throttles_go_to_io_max(tree: Path) -> None:
    apply_v2(
        str(tree),
        _res('{"blockIO":{"throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":50}]}}'),
        None,
    )
    assert _read(tree, "io.max") == "8:16 wiops=50"


@pytest.mark.parametrize(("shares", "weight"), [(0, 0), (2, 1), (1024, 39), (262144, 10000)])
def test_shares_convert_to_weight_as_runc(shares: int, weight: int) -> None:
    assert shares_to_weight(shares) == weight


@pytest.mark.parametrize("shares", [2, 1024, 262144])
def test_weight_converts_back_near_the_shares(shares: int) -> None:
    back = weight_to_shares(shares_to_weight(shares))
    assert abs(back - shares) <= 262142 // 9999 + 1


def test_blkio_weight_converts_as_runc() -> None:
    assert (blkio_to_io_weight(10), blkio_to_io_weight(1000), blkio_to_io_weight(0)) == (
        1,
        10000,
        0,
    )


@pytest.mark.parametrize(
    ("swap", "memory", "expected"), [(0, -1, -1), (-1, 100, -1), (0, 100, 0), (300, 100, 200)]
)
def test_swap_converts_to_v2(swap: int, memory: int, expected: int) -> None:
    assert swap_to_v2(swap, memory) == expected


def test_the_manager_follows_the_paths_keys() -> None:
    assert isinstance(manager_for({"": "/x"}), V2Manager)
    assert isinstance(manager_for({"memory": "/m", "": "/u"}), HybridManager)
    assert type(manager_for({"memory": "/m"})) is V1Manager
