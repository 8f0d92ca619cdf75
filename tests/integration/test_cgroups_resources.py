"""Resources, pause/resume, update, ps and kill --all through the `shim` command, on this
host's real controllers (the `shim` fixture deletes every container and checks that no
cgroup, state dir or mount is left, also after a failure). On a v2-only view the limits
need controllers this host's cgroup2 tree lacks: those tests skip, the rest run."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BundleFactory, Shim, needs_busybox, needs_root
from tests.integration._kernel_files import frozen, skip_without_controllers

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(90)]

MiB = 1 << 20
COUNTER = "i=0; while true; do i=$((i+1)); echo $i > /tmp/counter; sleep 0.05; done"


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def with_resources(resources: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        config["root"]["readonly"] = False  # the tests read files the container writes
        config["linux"]["resources"].update(resources)

    return edit


def cgroup_paths(shim: Shim, cid: str) -> dict[str, str]:
    paths = json.loads((shim.root / cid / "state.json").read_text())["cgroup_paths"]
    assert isinstance(paths, dict)
    return paths


def read(directory: str, name: str) -> str:
    return Path(directory, name).read_text().strip()


def cgroup_pids(shim: Shim, cid: str) -> list[int]:
    paths = cgroup_paths(shim, cid)
    return [int(p) for p in read(paths.get("devices", paths.get("", "")), "cgroup.procs").split()]


def freezer_dir(shim: Shim, cid: str) -> Path:
    paths = cgroup_paths(shim, cid)
    return Path(paths.get("freezer", paths.get("", "")))


def counter(bundle: Path) -> int:
    text = (bundle / "rootfs/tmp/counter").read_text().strip()
    return int(text) if text else 0


def run_detached(shim: Shim, bundle: Path, cid: str) -> None:
    shim.ok("run", "-d", "--bundle", str(bundle), cid)


def test_cpu_limits_show_in_the_v1_files(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    skip_without_controllers("cpu", "cpuset")
    cpu = {"quota": 20000, "period": 100000, "shares": 512, "cpus": "0"}
    bundle = make_bundle(["sleep", "100"], with_resources({"cpu": cpu}))
    shim.ok("create", "--bundle", str(bundle), cid)
    paths = cgroup_paths(shim, cid)
    assert read(paths["cpu"], "cpu.cfs_quota_us") == "20000"
    assert read(paths["cpu"], "cpu.cfs_period_us") == "100000"
    assert read(paths["cpu"], "cpu.shares") == "512"
    assert read(paths["cpuset"], "cpuset.cpus") == "0"


def test_memory_and_pids_limits_show_in_the_v1_files(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    skip_without_controllers("memory", "pids")
    memory = {"limit": 64 * MiB, "reservation": 32 * MiB, "swappiness": 0}
    bundle = make_bundle(
        ["sleep", "100"], with_resources({"memory": memory, "pids": {"limit": 42}})
    )
    shim.ok("create", "--bundle", str(bundle), cid)
    paths = cgroup_paths(shim, cid)
    assert read(paths["memory"], "memory.limit_in_bytes") == str(64 * MiB)
    assert read(paths["memory"], "memory.soft_limit_in_bytes") == str(32 * MiB)
    assert read(paths["memory"], "memory.swappiness") == "0"
    assert read(paths["pids"], "pids.max") == "42"


def test_pids_limit_stops_a_fork_bomb(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    skip_without_controllers("pids")
    bomb = "while true; do sleep 100 & done"  # ash gives up at the first refused fork
    bundle = make_bundle(["sh", "-c", bomb], with_resources({"pids": {"limit": 10}}))
    run_detached(shim, bundle, cid)
    pids_dir = cgroup_paths(shim, cid)["pids"]
    wait_for(lambda: int(read(pids_dir, "pids.events").split()[1]) > 0, "a refused fork")
    assert int(read(pids_dir, "pids.current")) <= 10
    assert len(cgroup_pids(shim, cid)) <= 10


@pytest.mark.parametrize(
    ("resources", "field"),
    [
        ({"memory": {"limit": -5}}, "linux.resources.memory.limit"),
        (
            {"devices": [{"allow": True, "type": "q", "access": "rwm"}]},
            "linux.resources.devices[0].type",
        ),
        ({"cpu": {"cpus": "9-1"}}, "linux.resources.cpu.cpus"),
    ],
)
def test_bad_resources_are_refused_and_leave_nothing_behind(
    shim: Shim, make_bundle: BundleFactory, cid: str, resources: dict[str, Any], field: str
) -> None:
    bundle = make_bundle(["true"], with_resources(resources))
    res = shim("create", "--bundle", str(bundle), cid)
    assert res.code == 1, res
    assert field in res.err, res
    assert shim.ok("list", "-q").out == ""
    assert not (shim.root / cid).exists()


def test_update_changes_the_live_limits_and_stores_runcs_zeros(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    skip_without_controllers("memory", "cpu", "pids")
    resources = {"memory": {"limit": 64 * MiB}, "cpu": {"quota": 50000}}
    bundle = make_bundle(["sleep", "100"], with_resources(resources))
    run_detached(shim, bundle, cid)
    paths = cgroup_paths(shim, cid)
    shim.ok("update", "--memory", "48M", "--pids-limit", "20", cid)
    assert read(paths["memory"], "memory.limit_in_bytes") == str(48 * MiB)
    assert read(paths["pids"], "pids.max") == "20"
    assert read(paths["cpu"], "cpu.cfs_quota_us") == "50000"  # not given: left alone
    stored = json.loads((shim.root / cid / "state.json").read_text())["config"]
    assert stored["linux"]["resources"]["memory"]["limit"] == 48 * MiB
    assert stored["linux"]["resources"]["cpu"]["quota"] == 0  # runc's quirk
    res = shim(
        "update", "-r", "-", cid, input=b'{"memory":{"limit":40000000},"cpu":{"shares":256}}'
    )
    assert res.code == 0, res
    assert read(paths["memory"], "memory.limit_in_bytes") == str(40000000 // 4096 * 4096)
    assert read(paths["cpu"], "cpu.shares") == "256"


def test_update_refuses_bad_values_with_runcs_messages(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    run_detached(shim, make_bundle(["sleep", "100"]), cid)
    res = shim("update", "--memory", "abc", cid)
    assert res.code == 1
    assert "invalid value for memory: invalid size: 'abc'" in res.err
    res = shim("update", "--cpuset-cpus", "9-1", cid)
    assert res.code == 1
    assert "linux.resources.cpu.cpus" in res.err


def test_pause_freezes_and_resume_continues(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["sh", "-c", COUNTER], with_resources({}))
    run_detached(shim, bundle, cid)
    wait_for(lambda: (bundle / "rootfs/tmp/counter").exists() and counter(bundle) > 2, "counting")
    shim.ok("pause", cid)
    assert shim.state(cid)["status"] == "paused"
    assert frozen(freezer_dir(shim, cid))
    frozen_at = counter(bundle)
    deadline = time.monotonic() + 0.5  # ten turns of the loop: none may happen
    while time.monotonic() < deadline:
        assert counter(bundle) == frozen_at
        time.sleep(0.05)
    assert "container not running" in shim("pause", cid).err
    shim.ok("resume", cid)
    assert shim.state(cid)["status"] == "running"
    wait_for(lambda: counter(bundle) > frozen_at, "the counter to move again")
    assert "container not paused" in shim("resume", cid).err


def test_sigkill_to_a_paused_container_thaws_it(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    run_detached(shim, make_bundle(["sleep", "100"]), cid)
    shim.ok("pause", cid)
    shim.ok("kill", cid, "KILL")
    wait_for(lambda: shim.state(cid)["status"] == "stopped", "the paused init to die")


def test_delete_force_removes_a_paused_container(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    run_detached(shim, make_bundle(["sh", "-c", "sleep 100 & sleep 100"]), cid)
    shim.ok("pause", cid)
    res = shim("delete", cid)
    assert f"cannot delete container {cid} that is not stopped: paused" in res.err
    started = time.monotonic()
    shim.ok("delete", "--force", cid)
    assert time.monotonic() - started < 5  # not the 10 s wait for a frozen init
    assert not (shim.root / cid).exists()


def test_kill_all_leaves_no_process_in_the_cgroup(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    run_detached(shim, make_bundle(["sh", "-c", "sleep 100 & sleep 100 & wait"]), cid)
    wait_for(lambda: len(cgroup_pids(shim, cid)) == 3, "three processes")
    shim.ok("pause", cid)
    shim.ok("kill", "--all", cid, "KILL")
    wait_for(lambda: cgroup_pids(shim, cid) == [], "an empty cgroup")
    assert shim.state(cid)["status"] == "stopped"  # thawed, so the frozen ones died
    shim.ok("kill", "--all", cid, "KILL")  # stopped: still a silent success
    assert "container not running" in shim("kill", cid, "KILL").err


def test_kill_all_with_sigterm_reaches_every_process(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    script = "trap 'exit 0' TERM; sleep 100 & sleep 100 & while true; do sleep 0.1; done"
    run_detached(shim, make_bundle(["sh", "-c", script]), cid)
    wait_for(lambda: len(cgroup_pids(shim, cid)) >= 3, "the processes")
    shim.ok("kill", "--all", cid, "TERM")
    wait_for(lambda: cgroup_pids(shim, cid) == [], "an empty cgroup")


def test_ps_lists_the_containers_processes(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    run_detached(shim, make_bundle(["sh", "-c", "sleep 100 & wait"]), cid)
    wait_for(lambda: len(cgroup_pids(shim, cid)) == 2, "two processes")
    pids = json.loads(shim.ok("ps", "--format", "json", cid).out)
    assert sorted(pids) == cgroup_pids(shim, cid)
    table = shim.ok("ps", cid).out.splitlines()
    assert table[0].split()[:2] == ["UID", "PID"]
    assert sorted(int(line.split()[1]) for line in table[1:]) == sorted(pids)
    assert any("sleep 100" in line for line in table[1:])
    custom = shim.ok("ps", cid, "-o", "pid,comm").out.splitlines()
    assert custom[0].split() == ["PID", "COMMAND"]
    assert len(custom) == 3
    shim.ok("kill", "--all", cid, "KILL")
    wait_for(lambda: shim.state(cid)["status"] == "stopped", "the container to stop")
    assert shim.ok("ps", "-f", "json", cid).out == "null\n"


def test_ps_refuses_an_unknown_format(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    run_detached(shim, make_bundle(["sleep", "100"]), cid)
    res = shim("ps", "-f", "yaml", cid)
    assert res.code == 1
    assert "invalid format option" in res.err


def test_cgroup_commands_on_a_stopped_container_fail_as_runc(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    run_detached(shim, make_bundle(["true"]), cid)
    wait_for(lambda: shim.state(cid)["status"] == "stopped", "the container to stop")
    assert "container not running" in shim("pause", cid).err
    assert "container not paused" in shim("resume", cid).err
    assert "container not running" in shim("update", "--memory", "1M", cid).err
    assert f"container with id {cid} is not running" in shim("events", "--stats", cid).err
    assert "container does not exist" in shim("pause", "nope").err


def test_kill_all_reaches_processes_that_outlived_pid_1(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    def no_pid_namespace(config: dict[str, Any]) -> None:
        namespaces = config["linux"]["namespaces"]
        config["linux"]["namespaces"] = [ns for ns in namespaces if ns["type"] != "pid"]

    # Without a pid namespace the init's death does not take its children along.
    bundle = make_bundle(["sh", "-c", "sleep 100 & sleep 100 & exit 0"], no_pid_namespace)
    run_detached(shim, bundle, cid)
    wait_for(lambda: shim.state(cid)["status"] == "stopped", "pid 1 to exit")
    wait_for(lambda: len(cgroup_pids(shim, cid)) == 2, "the two orphans")
    shim.ok("kill", "--all", cid, "KILL")
    wait_for(lambda: cgroup_pids(shim, cid) == [], "an empty cgroup")


def test_delete_removes_cgroups_made_inside_the_containers_own(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    run_detached(shim, make_bundle(["sh", "-c", "sleep 100 & wait"]), cid)
    wait_for(lambda: len(cgroup_pids(shim, cid)) == 2, "two processes")
    paths = cgroup_paths(shim, cid)
    # As a container with a writable cgroup mount would: a sub-cgroup holding a process.
    nested = [Path(paths[key], "inner", "deeper") for key in ("", "pids") if key in paths]
    for directory in nested:
        directory.mkdir(parents=True)
        (directory / "cgroup.procs").write_text(str(max(cgroup_pids(shim, cid))))
    shim.ok("delete", "--force", cid)
    assert [d for d in nested if d.parent.exists()] == []
    assert not any(Path(p).exists() for p in paths.values())
