"""The cgroup v1 driver's file logic on a fake tree, for the controllers this host lacks
(hugetlb, net_cls, net_prio) and the orderings that matter; the real controllers are
exercised in tests/integration/test_cgroups_resources.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from shim.cgroups.v1 import apply_v1
from shim.errors import CgroupError, Unsupported
from shim.record_decoder import decode_json
from shim.spec.resources import Resources

FILES = {
    "memory": [
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
        "memory.soft_limit_in_bytes",
        "memory.oom_control",
        "memory.swappiness",
        "memory.usage_in_bytes",
        "memory.max_usage_in_bytes",
    ],
    "cpu": ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.rt_period_us"],
    "blkio": ["blkio.weight", "blkio.weight_device", "blkio.throttle.read_bps_device"],
    "hugetlb": ["hugetlb.2MB.limit_in_bytes"],
    "net_cls": ["net_cls.classid"],
    "net_prio": ["net_prio.ifpriomap"],
    "pids": ["pids.max"],
}


def _fake_tree(root: Path) -> dict[str, str]:
    out = {}
    for controller, names in FILES.items():
        directory = root / controller
        directory.mkdir(parents=True, exist_ok=True)
        for name in names:
            (directory / name).write_text("")
        out[controller] = str(directory)
    return out


def _res(raw: str) -> Resources:
    return decode_json(raw, Resources)


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, str]:
    return _fake_tree(tmp_path)


def _read(paths: dict[str, str], controller: str, name: str) -> str:
    return Path(paths[controller], name).read_text()


def test_controllers_this_host_lacks_get_their_files(paths: dict[str, str]) -> None:
    apply_v1(
        paths,
        _res(
            '{"hugepageLimits":[{"pageSize":"2MB","limit":2097152}],'
            '"network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5}]},'
            '"blockIO":{"weight":300,"weightDevice":[{"major":8,"minor":0,"weight":200}],'
            '"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}]}}'
        ),
        None,
    )
    assert _read(paths, "hugetlb", "hugetlb.2MB.limit_in_bytes") == "2097152"
    assert _read(paths, "net_cls", "net_cls.classid") == "1048577"
    assert _read(paths, "net_prio", "net_prio.ifpriomap") == "eth0 5"
    assert _read(paths, "blkio", "blkio.weight") == "300"
    assert _read(paths, "blkio", "blkio.weight_device") == "8:0 200"
    assert _read(paths, "blkio", "blkio.throttle.read_bps_device") == "8:0 1048576"


def test_memory_fields_land_in_their_files(paths: dict[str, str]) -> None:
    raw = (
        '{"memory":{"limit":1048576,"swap":2097152,"reservation":524288,'
        '"swappiness":30,"disableOOMKiller":true}}'
    )
    apply_v1(paths, _res(raw), None)
    assert _read(paths, "memory", "memory.limit_in_bytes") == "1048576"
    assert _read(paths, "memory", "memory.memsw.limit_in_bytes") == "2097152"
    assert _read(paths, "memory", "memory.soft_limit_in_bytes") == "524288"
    assert _read(paths, "memory", "memory.swappiness") == "30"
    assert _read(paths, "memory", "memory.oom_control") == "1"


def test_unlimited_memory_makes_swap_unlimited_too(paths: dict[str, str]) -> None:
    apply_v1(paths, _res('{"memory":{"limit":-1}}'), None)
    assert _read(paths, "memory", "memory.memsw.limit_in_bytes") == "-1"


def test_a_missing_controller_is_refused_naming_the_field(paths: dict[str, str]) -> None:
    del paths["hugetlb"]
    with pytest.raises(Unsupported, match=r"^linux\.resources\.hugepageLimits: the hugetlb"):
        apply_v1(paths, _res('{"hugepageLimits":[{"pageSize":"2MB","limit":0}]}'), None)


def test_unified_is_refused_on_v1(paths: dict[str, str]) -> None:
    with pytest.raises(Unsupported, match="cannot use unified on cgroup v1"):
        apply_v1(paths, _res('{"unified":{"memory.high":"1"}}'), None)


def test_check_before_update_refuses_a_limit_below_usage(paths: dict[str, str]) -> None:
    Path(paths["memory"], "memory.usage_in_bytes").write_text("8192\n")
    with pytest.raises(CgroupError, match="rejecting memory limit 4096 below current usage 8192"):
        apply_v1(paths, _res('{"memory":{"limit":4096,"checkBeforeUpdate":true}}'), None)
    assert _read(paths, "memory", "memory.limit_in_bytes") == ""
