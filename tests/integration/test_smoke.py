"""The lifecycle end to end on a busybox bundle: create, start, state, kill, delete."""

from __future__ import annotations

import pytest

from tests.conftest import BundleFactory, Shim, needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged]


def test_create_start_kill_delete_walks_the_states(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.1; done"])
    shim.ok("create", "--bundle", str(bundle), cid)
    assert shim.state(cid)["status"] == "created"
    shim.ok("start", cid)
    assert shim.state(cid)["status"] == "running"
    shim.ok("kill", cid, "TERM")
    for _ in range(100):
        if shim.state(cid)["status"] == "stopped":
            break
        import time

        time.sleep(0.05)
    assert shim.state(cid)["status"] == "stopped"
    shim.ok("delete", cid)
    assert shim("state", cid).code == 1


def test_run_returns_the_exit_status(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    bundle = make_bundle(["sh", "-c", "exit 7"])
    res = shim("run", "--bundle", str(bundle), cid)
    assert res.code == 7, res
