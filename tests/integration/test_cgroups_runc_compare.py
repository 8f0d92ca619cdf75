"""pause/resume/ps/update/events side by side with runc 1.1 on this host (skipped when
runc is not installed): same shapes, same refusals."""

from __future__ import annotations

import json

import pytest

from tests.conftest import BundleFactory, Shim, needs_busybox, needs_root
from tests.integration._kernel_files import cgroup_file, is_v2_only
from tests.integration._runc_compare import needs_runc, pid_of, wait_status

pytestmark = [
    needs_root,
    needs_busybox,
    needs_runc,
    pytest.mark.privileged,
    pytest.mark.timeout(90),
]


def shape(value: object) -> object:
    """Keys and value types, recursively; `raw` (the kernel's memory.stat) left out."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items() if k != "raw"}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def both(shim: Shim, runc: Shim, cid: str) -> list[tuple[Shim, str]]:
    return [(shim, cid), (runc, "r" + cid[1:])]


def test_events_stats_have_runcs_shape(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = str(make_bundle(["sleep", "100"]))
    shapes = []
    for tool, name in both(shim, runc, cid):
        tool.ok("run", "-d", "--bundle", bundle, name)
        stats = json.loads(tool.ok("events", "--stats", name).out)
        # memory.cache is `omitempty` in runc: present exactly when the page cache charged
        # to this cgroup is not zero, which depends on who touched busybox's pages first.
        memory = stats["data"]["memory"]
        raw = memory.get("raw", {})  # omitempty too: absent where no memory.stat was read
        charged = raw.get("cache", raw.get("file", 0))
        assert ("cache" in memory) == (charged != 0), (tool, memory)
        memory.pop("cache", None)
        shapes.append(shape(stats))
    assert shapes[0] == shapes[1]


def test_pause_resume_and_their_refusals_match_runc(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = str(make_bundle(["sleep", "100"]))
    seen: list[list[object]] = []
    for tool, name in both(shim, runc, cid):
        tool.ok("create", "--bundle", bundle, name)
        row: list[object] = [tool("resume", name).code]
        tool.ok("pause", name)  # a created container may be paused
        row += [tool.state(name)["status"], tool("pause", name).code]
        tool.ok("resume", name)
        row.append(tool.state(name)["status"])
        tool.ok("start", name)
        tool.ok("pause", name)
        tool.ok("kill", "--all", name, "KILL")  # thaws, so everything dies
        wait_status(tool, name, "stopped")
        row += [tool.ok("ps", "-f", "json", name).out]
        for args in (("pause",), ("resume",), ("update", "--memory", "1M")):
            row.append(tool(*args, name).err.split("msg=")[-1].strip())
        row.append(
            tool("events", "--stats", name).err.split("msg=")[-1].strip().replace(name, "ID")
        )
        seen.append(row)
    assert seen[0] == seen[1]
    assert seen[0][1:4] == ["paused", 1, "created"]


def test_update_writes_what_runc_writes(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    """Judged by the kernel's files, not by reading our own `events --stats` back."""
    if is_v2_only():
        pytest.skip("this host's cgroup2 tree has no memory, cpu or pids controller")
    bundle = str(make_bundle(["sleep", "100"]))
    files = []
    wanted = {
        ("memory", "memory.limit_in_bytes"): str(48 << 20),
        ("cpu", "cpu.cfs_quota_us"): "30000",
        ("cpu", "cpu.shares"): "300",
        ("pids", "pids.max"): "9",
    }
    for tool, name in both(shim, runc, cid):
        tool.ok("run", "-d", "--bundle", bundle, name)
        flags = ("--memory", "48M", "--cpu-quota", "30000", "--cpu-share", "300")
        tool.ok("update", *flags, "--pids-limit", "9", name)
        pid = pid_of(tool, name)
        files.append({key: cgroup_file(pid, *key).strip() for key in wanted})
    assert files[1] == wanted, files[1]
    assert files[0] == files[1]
