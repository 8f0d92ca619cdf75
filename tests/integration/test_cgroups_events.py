"""`shim events` and the event-bus library on real containers: stats, OOM kills (v1
memory.oom_control eventfd), the end of the stream at delete, and `--all`."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from shim.errors import NotFound
from shim.supervisor.supervisor import Supervisor
from tests.conftest import BundleFactory, Shim, leaked_cgroups, needs_busybox, needs_root
from tests.integration._kernel_files import cgroup_file, skip_without_controllers
from tests.integration._runc_compare import pid_of

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(90)]

MiB = 1 << 20


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    assert isinstance(request.param, str)
    return request.param


class Lines:
    """A `shim events` process whose stdout is read line by line with deadlines."""

    def __init__(self, shim: Shim, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            shim.argv("events", *args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        self._buf = b""

    def next(self, timeout: float = 15.0) -> dict[str, Any] | None:
        """The next JSON line, or None at EOF; AssertionError after `timeout`."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no event within {timeout}s")
            if not select.select([fd], [], [], left)[0]:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        event = json.loads(line)
        assert isinstance(event, dict)
        return event

    def until(
        self, want: Callable[[dict[str, Any]], bool], timeout: float = 20.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            event = self.next(max(0.1, deadline - time.monotonic()))
            assert event is not None, "the stream ended early"
            if want(event):
                return event

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def events() -> Iterator[Callable[..., Lines]]:
    started: list[Lines] = []

    def start(shim: Shim, *args: str, env: dict[str, str] | None = None) -> Lines:
        lines = Lines(shim, *args, env=env)
        started.append(lines)
        return lines

    yield start
    for lines in started:
        lines.close()


def writable(resources: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        config["root"]["readonly"] = False
        config["linux"]["resources"].update(resources)

    return edit


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_an_oom_kill_is_reported_by_events(
    shim: Shim,
    make_bundle: BundleFactory,
    cid: str,
    events: Callable[..., Lines],
    backend: str,
) -> None:
    skip_without_controllers("memory")
    # Waits for /tmp/go so that the event stream is set up before the allocation.
    script = (
        "while [ ! -e /tmp/go ]; do sleep 0.05; done;"
        " dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 100"
    )
    limits = {"memory": {"limit": 32 * MiB, "swap": 32 * MiB}}
    bundle = make_bundle(["sh", "-c", script], writable(limits))
    shim.ok("run", "-d", "--bundle", str(bundle), cid)
    lines = events(
        shim, "--interval", "100ms", cid, env={**os.environ, "SHIM_ASYNC_BACKEND": backend}
    )
    first = lines.until(lambda e: e["type"] == "stats")  # the OOM watch is armed by now
    assert first["id"] == cid
    (bundle / "rootfs/tmp/go").touch()
    assert lines.until(lambda e: e["type"] == "oom") == {"type": "oom", "id": cid}


def test_stats_report_memory_usage_in_runcs_shape(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    skip_without_controllers("memory")
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "100"])), cid)
    event = json.loads(shim.ok("events", "--stats", cid).out)
    assert (event["type"], event["id"]) == ("stats", cid)
    data = event["data"]
    assert list(data) == [
        *("cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt"),
        "network_interfaces",
    ]
    assert data["memory"]["usage"]["usage"] > 0
    assert data["memory"]["usage"]["limit"] > 0
    assert data["pids"]["current"] == 1
    assert set(data["cpu"]["usage"]) >= {"kernel", "user"}


def test_events_end_when_the_container_is_deleted(
    shim: Shim, make_bundle: BundleFactory, cid: str, events: Callable[..., Lines]
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "100"])), cid)
    lines = events(shim, "--interval", "100ms", cid)
    lines.until(lambda e: e["type"] == "stats")
    shim.ok("kill", cid, "KILL")
    lines.until(lambda e: e["data"]["pids"] == {})  # still streaming while stopped
    shim.ok("delete", cid)
    deadline = time.monotonic() + 15
    while lines.next(max(0.1, deadline - time.monotonic())) is not None:
        pass
    assert lines.proc.wait(timeout=10) == 0


def test_events_refuse_a_bad_interval_and_a_stopped_container(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    res = shim("events", "--interval", "0s", "x")
    assert "duration interval must be greater than 0" in res.err
    res = shim("events")
    assert res.code == 1
    assert "requires exactly 1 argument(s)" in res.err
    shim.ok("run", "-d", "--bundle", str(make_bundle(["true"])), cid)
    deadline = time.monotonic() + 15
    while shim.state(cid)["status"] != "stopped":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert f"container with id {cid} is not running" in shim("events", cid).err


def test_events_all_follows_containers_that_appear_later(
    shim: Shim, make_bundle: BundleFactory, cid: str, events: Callable[..., Lines]
) -> None:
    shim.root.mkdir(parents=True, exist_ok=True)
    lines = events(shim, "--all", "--interval", "100ms")
    ids = [f"{cid}-a", f"{cid}-b"]
    for i, name in enumerate(ids):
        shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "100"], name=f"b{i}")), name)
    seen: set[str] = set()

    def both_seen(event: dict[str, Any]) -> bool:
        seen.add(event["id"])
        return seen >= set(ids)

    lines.until(both_seen)
    shim.ok("delete", "--force", ids[0])
    lines.until(lambda e: e["id"] == ids[1])  # the stream goes on for the others
    assert lines.proc.poll() is None


def test_events_all_with_stats_prints_one_line_per_container(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "100"])), cid)
    out = shim.ok("events", "--all", "--stats").out.splitlines()
    assert [json.loads(line)["id"] for line in out] == [cid]


@pytest.mark.anyio
async def test_the_library_streams_stats_and_ends_at_delete(
    tmp_path: Path, make_bundle: BundleFactory, cid: str, anyio_backend: str
) -> None:
    from shim.runtime.events import container_events
    from shim.supervisor.all_events import all_events

    bundle = make_bundle(["sleep", "100"])
    async with Supervisor.open(str(tmp_path / "root"), subreaper=False) as sup:
        try:
            with anyio.fail_after(30):
                await sup.create(cid, str(bundle))
                async with all_events(sup.store, 0.05) as merged:
                    first, second = await merged.receive(), await merged.receive()
                    assert (first.type, first.id) == ("created", cid)  # found, as it is
                    assert (second.type, second.id) == ("stats", cid)
                async with container_events(sup.store, cid, 0.05) as stream:
                    event = await stream.receive()
                    assert event.data is not None
                    await sup.delete(cid, force=True)
                    async for _ in stream:
                        pass  # ends on its own once the cgroup is gone
        finally:
            with anyio.CancelScope(shield=True), contextlib.suppress(NotFound):
                await sup.delete(cid, force=True)
    assert leaked_cgroups(cid) == []


def test_events_stop_quietly_when_the_reader_goes_away(
    shim: Shim, make_bundle: BundleFactory, cid: str, events: Callable[..., Lines]
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "100"])), cid)
    lines = events(shim, "--interval", "50ms", cid)
    lines.until(lambda e: e["type"] == "stats")
    assert lines.proc.stdout is not None
    lines.proc.stdout.close()  # the reader is gone: the next write hits a closed pipe
    assert lines.proc.wait(timeout=10) == 0
    assert lines.proc.stderr is not None
    assert lines.proc.stderr.read() == b""


def test_update_reads_resources_from_a_file(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    skip_without_controllers("pids")
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "100"])), cid)
    spec = tmp_path / "res.json"
    spec.write_text('{"pids":{"limit":33}}')
    shim.ok("update", "-r", str(spec), cid)
    assert cgroup_file(pid_of(shim, cid), "pids", "pids.max").strip() == "33"  # the kernel's
    res = shim("update", "-r", str(tmp_path / "missing.json"), cid)
    assert f"open {tmp_path}/missing.json: no such file or directory" in res.err


@pytest.mark.anyio
async def test_a_reader_that_leaves_with_a_full_buffer_ends_the_stream_cleanly(
    tmp_path: Path, make_bundle: BundleFactory, cid: str, anyio_backend: str
) -> None:
    from shim.supervisor.all_events import BUFFER, all_events

    async with Supervisor.open(str(tmp_path / "root"), subreaper=False) as sup:
        try:
            with anyio.fail_after(30):
                await sup.create(cid, str(make_bundle(["sleep", "100"])))
                async with all_events(sup.store, 0.001) as merged:
                    while merged.statistics().current_buffer_used < BUFFER:  # noqa: ASYNC110
                        await anyio.sleep(0.01)  # then a producer waits in send()
                # leaving with producers blocked raised nothing
        finally:
            with anyio.CancelScope(shield=True), contextlib.suppress(NotFound):
                await sup.delete(cid, force=True)
    assert leaked_cgroups(cid) == []


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_events_all_streams_the_lifecycle_of_containers_run_by_others(
    shim: Shim,
    make_bundle: BundleFactory,
    cid: str,
    events: Callable[..., Lines],
    backend: str,
) -> None:
    """create, start, pause, resume, kill, delete from other processes (the CLI), seen by
    one `events --all` through inotify, pidfds and the cgroup's own files; an OOM kill
    too. A long interval keeps stats lines out of the way."""
    skip_without_controllers("memory")  # the OOM kill needs a memory limit
    shim.root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SHIM_ASYNC_BACKEND": backend}
    lines = events(shim, "--all", "--interval", "1h", env=env)
    time.sleep(0.3)  # the observer is watching --root by now (it finds later ones either way)
    script = (
        "while [ ! -e /tmp/go ]; do sleep 0.05; done;"
        " dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 100"
    )
    limits = {"memory": {"limit": 32 * MiB, "swap": 32 * MiB}}
    shim.ok(
        "create",
        "--bundle",
        str(bundle := make_bundle(["sh", "-c", script], writable(limits))),
        cid,
    )
    created = lines.until(lambda e: e["id"] == cid)
    assert created["type"] == "created"
    assert created["data"]["pid"] > 0
    shim.ok("start", cid)
    assert lines.until(lambda e: e["id"] == cid)["type"] == "started"
    shim.ok("pause", cid)
    assert lines.until(lambda e: e["id"] == cid)["type"] == "paused"
    shim.ok("resume", cid)
    assert lines.until(lambda e: e["id"] == cid)["type"] == "resumed"
    (bundle / "rootfs/tmp/go").touch()
    assert lines.until(lambda e: e["id"] == cid) == {"type": "oom", "id": cid}
    shim.ok("kill", cid, "KILL")
    exited = lines.until(lambda e: e["type"] == "exit")
    assert (exited["id"], exited["data"]["pid"]) == (cid, created["data"]["pid"])
    shim.ok("delete", cid)
    assert lines.until(lambda e: e["type"] == "deleted")["id"] == cid
