"""Flags and config fields beyond the basic lifecycle: --no-pivot, the session keyring,
cgroupsPath, device nodes, --debug records from the helper."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BundleFactory, Shim, needs_busybox, needs_root
from tests.integration._kernel_files import hierarchy_mounts

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged]


def test_no_pivot_runs_the_container_chrooted(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["sh", "-c", "ls /bin/busybox && echo $$"])
    res = shim("run", "--no-pivot", "--bundle", str(bundle), cid)
    assert res.code == 0, res
    assert res.out.split() == ["/bin/busybox", "1"]


def test_create_joins_a_session_keyring_named_after_the_container(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["sleep", "30"])
    shim.ok("create", "--bundle", str(bundle), cid)
    with open("/proc/keys") as f:  # root sees every keyring
        assert f"_ses.{cid}" in f.read()
    shim.ok("delete", "--force", cid)


def test_no_new_keyring_keeps_the_callers_keyring(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["sleep", "30"])
    shim.ok("create", "--no-new-keyring", "--bundle", str(bundle), cid)
    with open("/proc/keys") as f:
        assert f"_ses.{cid}" not in f.read()
    shim.ok("delete", "--force", cid)


def test_absolute_cgroups_path_is_made_used_and_removed(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    path = f"/shim-test-{cid}"

    def edit(config: dict[str, Any]) -> None:
        config["linux"]["cgroupsPath"] = path

    bundle = make_bundle(["sh", "-c", "cat /proc/self/cgroup; sleep 30"], edit)
    shim.ok("create", "--bundle", str(bundle), cid)
    pid = shim.state(cid)["pid"]
    mounts = hierarchy_mounts()
    wanted = [c for c in ("memory", "pids", "freezer", "devices", "") if c in mounts]
    assert wanted, "no cgroup hierarchy to check"
    for ctrl in wanted:
        procs = Path(f"{mounts[ctrl]}{path}/cgroup.procs").read_text().split()
        assert str(pid) in procs, ctrl
    shim.ok("delete", "--force", cid)
    for ctrl in wanted:
        assert not os.path.exists(f"{mounts[ctrl]}{path}"), ctrl


def test_a_config_device_node_is_made_with_its_numbers_and_mode(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["linux"]["devices"] = [
            {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o620}
        ]

    script = "stat -c '%t:%T %a' /dev/mynull; echo data > /dev/mynull && echo writable"
    bundle = make_bundle(["sh", "-c", script], edit)
    res = shim("run", "--bundle", str(bundle), cid)
    assert res.code == 0, res
    assert res.out.split() == ["1:3", "620", "writable"]


def test_devices_outside_the_rules_are_denied(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    # runc's default config denies every device, then allows the defaults; a node made
    # by hand for /dev/sda-like 8:0 must not open.
    def edit(config: dict[str, Any]) -> None:
        config["root"]["readonly"] = False
        config["process"]["capabilities"]["bounding"].append("CAP_MKNOD")
        config["process"]["capabilities"]["effective"].append("CAP_MKNOD")
        config["process"]["capabilities"]["permitted"].append("CAP_MKNOD")

    bundle = make_bundle(["sh", "-c", "mknod /tmp/blk b 8 0 && cat /tmp/blk"], edit)
    res = shim("run", "--bundle", str(bundle), cid)
    assert res.code != 0, res
    assert "Operation not permitted" in res.out + res.err


def test_debug_relays_the_helpers_log_records(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["true"])
    res = shim("--debug", "run", "--bundle", str(bundle), cid)
    assert res.code == 0, res
    for text in ("nsexec container setup", "child process in init()", "closing the pipe"):
        assert text in res.err, res
    assert "level=debug" in res.err


def test_a_corrupt_state_file_is_skipped_by_list_and_cleared_by_delete_force(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["sleep", "30"])
    shim.ok("run", "-d", "--bundle", str(bundle), "other-" + cid)
    bad = shim.root / cid
    bad.mkdir(mode=0o711)
    (bad / "state.json").write_text('{"id": "x"}')
    res = shim("list", "-q")
    assert res.code == 0, res
    assert res.out.split() == ["other-" + cid]
    assert f"load container {cid}: " in res.err
    assert shim("delete", cid).code == 1
    shim.ok("delete", "--force", cid)
    assert not bad.exists()
    shim.ok("delete", "--force", "other-" + cid)


def test_run_detached_removes_the_container_when_start_fails(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    def edit(config: dict[str, Any]) -> None:  # startContainer runs inside, before exec
        config["hooks"] = {"startContainer": [{"path": "/bin/false"}]}

    res = shim("run", "-d", "--bundle", str(make_bundle(["sleep", "30"], edit)), cid)
    assert res.code == 1, res
    assert "error running hook #0" in res.err
    assert shim("state", cid).code == 1  # runc destroys what run -d made
