"""The containerd harness end to end: how containerd runs our binary.

containerd (1.6 from Debian) resolves `io.containerd.pyshim.v1` to our binary, runs
`start` in the bundle with the expected flags, dials the printed address and runs the
task; after a disconnect, and after a kill -9 of the daemon, it runs our `delete`.
runc-v2 runs the imported busybox image in the same containerd (so the image,
snapshotter and config are right); CRI serves, sees its sandbox image, and runs a pod
sandbox through our shim; our event publisher's envelopes reach `ctr events`, over
ttrpc and through the publish binary.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from shim.shimv2.proto import events_task_pb2
from shim.shimv2.publisher import Publisher

from ._events import CtrEvents
from .cri import Cri
from .harness import BUSYBOX_IMAGE, SANDBOX_IMAGE, TIMEOUT, Containerd, ShimCall

pytestmark = [pytest.mark.containerd, pytest.mark.slow]
RUNTIME = "io.containerd.pyshim.v1"


def _wait_for(predicate: object, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _calls(ctd: Containerd, cid: str, action: str) -> list[ShimCall]:
    return [c for c in ctd.shim_calls() if c.flag("id") == cid and c.action == action]


def test_runc_v2_runs_the_imported_busybox(containerd: Containerd) -> None:
    result = containerd.ctr(
        "run", "--rm", "--runtime", "io.containerd.runc.v2", BUSYBOX_IMAGE, "harness-runc",
        "/bin/sh", "-c", "echo hello from busybox; exit 3", check=False,
    )  # fmt: skip
    assert (result.returncode, result.stdout.strip()) == (3, "hello from busybox"), result.stderr


def test_containerd_runs_our_start_and_create_reaches_the_daemon(containerd: Containerd) -> None:
    cid = "harness-create"
    result = containerd.ctr(
        "run", "--rm", "--runtime", RUNTIME, BUSYBOX_IMAGE, cid, "/bin/true", check=False
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (start,) = _calls(containerd, cid, "start")
    bundle = f"{containerd.dir}/state/io.containerd.runtime.v2.task/default/{cid}"
    assert start.cwd == bundle
    assert start.flag("namespace") == "default"
    assert start.flag("address") == containerd.address
    assert start.address.startswith("unix:///run/containerd/s/")
    log = containerd.log()
    assert "ttrpc: containerd.task.v2.Task/Create" in log  # our daemon's log, through the fifo
    assert "ttrpc: containerd.task.v2.Task/Shutdown" in log
    _wait_for(lambda: _calls(containerd, cid, "delete"), "containerd to run our delete")
    (delete,) = _calls(containerd, cid, "delete")
    assert delete.flag("bundle") == bundle
    _wait_for(lambda: not containerd.shim_pids(), "the daemon to exit after Shutdown")
    assert not os.path.exists(start.address.removeprefix("unix://"))  # the daemon unlinked it
    _wait_for(lambda: not os.path.exists(bundle), "containerd to remove the bundle")


def _daemon_of(ctd: Containerd, cid: str) -> int | None:
    """The daemon serving `cid`: exec'd by start (its argv names it) or forked by the
    zygote (its cwd is the bundle)."""
    for pid in ctd.shim_pids():
        try:  # a `start` (the native front: a millisecond) may be gone by now
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if {b"start", b"delete"} & set(argv[2:]):
            continue
        if cid.encode() in argv or cwd.endswith(f"/{cid}"):
            return pid
    return None


def _start_address(ctd: Containerd, cid: str) -> str:
    calls = _calls(ctd, cid, "start")
    return calls[0].address.removeprefix("unix://") if calls and calls[0].address else ""


def _pending_connections(path: str) -> int:
    """Connections queued on the listener at `path`: /proc/net/unix lists each with its path."""
    with open("/proc/net/unix") as file:
        return sum(1 for line in file if line.split()[-1] == path) - 1


def test_kill_9_of_the_daemon_then_containerd_runs_our_delete(containerd: Containerd) -> None:
    cid = "harness-kill9"
    argv = ["ctr", "--address", containerd.address, "run", "--rm", "--runtime", RUNTIME]
    ctr = subprocess.Popen(
        [*argv, BUSYBOX_IMAGE, cid, "/bin/true"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, CONTAINERD_SNAPSHOTTER="native"),
    )  # fmt: skip
    try:
        # Stop the daemon before it serves (Python start-up takes far longer than this
        # poll), wait until containerd has connected (its Create then sits unread in the
        # socket, as with a hung shim), then kill it.
        _wait_for(lambda: _daemon_of(containerd, cid) is not None, "the daemon")
        pid = _daemon_of(containerd, cid)
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        _wait_for(lambda: _start_address(containerd, cid), "start to print the address")
        path = _start_address(containerd, cid)
        _wait_for(lambda: _pending_connections(path) > 0, "containerd to dial")
        os.kill(pid, signal.SIGKILL)
        _, err = ctr.communicate(timeout=TIMEOUT)
    finally:
        if ctr.poll() is None:
            ctr.kill()
            ctr.wait(timeout=TIMEOUT)
    assert ctr.returncode != 0
    assert err  # the daemon never answered Create: ctr reports the failure
    (start,) = _calls(containerd, cid, "start")
    _wait_for(lambda: _calls(containerd, cid, "delete"), "containerd to run our delete")
    # nobody answers on the dead daemon's socket any more: our delete removed it
    _wait_for(lambda: not os.path.exists(start.address.removeprefix("unix://")), "socket removal")
    assert containerd.ctr("tasks", "ls", "-q").stdout.split() == []


def test_cri_serves_and_runs_pod_sandboxes_through_our_shim(containerd: Containerd) -> None:
    cri = Cri(containerd.address)
    try:
        assert cri.version().runtime_name == "containerd"
        image = cri.image_status(SANDBOX_IMAGE).image
        assert SANDBOX_IMAGE in image.repo_tags
        config = cri.pod_config("harness-pod", str(containerd.dir / "pod-logs"))
        pod_id = cri.run_pod(config, "pyshim")
        assert [p.id for p in cri.list_pods()] == [pod_id]
        starts = [
            c
            for c in containerd.shim_calls()
            if c.action == "start" and c.flag("namespace") == "k8s.io"
        ]
        assert len(starts) == 1
        for pod in cri.list_pods():
            cri.remove_pod(pod.id)
    finally:
        cri.close()
    _wait_for(lambda: not containerd.shim_pids(), "the sandbox's shim to exit")


def _containing(text: str) -> Callable[[str], bool]:
    return lambda line: text in line


def test_our_publisher_reaches_ctr_events_over_ttrpc_and_the_publish_binary(
    containerd: Containerd,
) -> None:
    events = CtrEvents(containerd)

    async def publish() -> None:
        over_ttrpc = Publisher("default", containerd.ttrpc_address)
        by_binary = Publisher(
            "default", "", publish_binary="/usr/bin/containerd", grpc_address=containerd.address
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(over_ttrpc.run)
            tg.start_soon(by_binary.run)
            over_ttrpc.publish(events_task_pb2.TaskOOM(container_id="via-ttrpc"))
            by_binary.publish(events_task_pb2.TaskOOM(container_id="via-binary"))
            exit_event = events_task_pb2.TaskExit(
                container_id="x1", id="x1", pid=7, exit_status=137
            )
            over_ttrpc.publish(exit_event)
            await over_ttrpc.drain()
            await by_binary.drain()
            tg.cancel_scope.cancel()
        assert by_binary.delivered == 1
        assert over_ttrpc.refused == by_binary.refused == 0

    async def bounded() -> None:
        with anyio.fail_after(TIMEOUT):
            await publish()

    try:
        events.subscribed()
        anyio.run(bounded)
        for text in ("via-ttrpc", "via-binary", "/tasks/exit"):
            events.wait_for(_containing(text), text)
    finally:
        events.close()
    tasks = [line for line in events.lines if "/tasks/" in line]
    assert any("default /tasks/oom" in line and "via-ttrpc" in line for line in tasks), tasks
    assert any("default /tasks/oom" in line and "via-binary" in line for line in tasks), tasks
    exit_line = next(line for line in tasks if "/tasks/exit" in line)
    assert '"exit_status":137' in exit_line, exit_line
