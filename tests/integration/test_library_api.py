"""The runtime library driven in-process by an async caller, on asyncio and trio."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import pytest

from shim.errors import NotFound, WrongState
from shim.runtime.api import Runtime, wait_exit
from shim.supervisor.reaper import Reaper
from tests.conftest import BundleFactory, leaked_cgroups, needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged]


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    return Runtime(Reaper(), str(tmp_path / "state"))


@pytest.mark.anyio
async def test_create_start_and_wait_on_the_pidfd(
    runtime: Runtime, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["sh", "-c", "exit 3"])
    try:
        with anyio.fail_after(20):
            await anyio.to_thread.run_sync(runtime.create, cid, str(bundle))
            pidfd = runtime.pidfd(cid)
            try:
                await anyio.to_thread.run_sync(runtime.start, cid)
                assert await wait_exit(pidfd) == 3
            finally:
                os.close(pidfd)
            assert runtime.state(cid)["status"] == "stopped"
    finally:
        runtime.delete(cid, force=True)
    assert leaked_cgroups(cid) == []
    with pytest.raises(NotFound):
        runtime.state(cid)


@pytest.mark.anyio
async def test_signal_through_the_library_reports_the_signal(
    runtime: Runtime, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["sleep", "100"])
    try:
        with anyio.fail_after(20):
            await anyio.to_thread.run_sync(runtime.create, cid, str(bundle))
            pidfd = runtime.pidfd(cid)
            try:
                await anyio.to_thread.run_sync(runtime.start, cid)
                runtime.kill(cid, signal.SIGKILL)
                assert await wait_exit(pidfd) == 128 + signal.SIGKILL
            finally:
                os.close(pidfd)
            with pytest.raises(WrongState, match="container not running"):
                runtime.pidfd(cid)
    finally:
        runtime.delete(cid, force=True)
