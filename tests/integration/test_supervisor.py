"""The supervisor: many containers in one async process (asyncio and trio), one reaper,
owned stdio, process handles, the event stream. Real kernel, busybox bundles."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from shim.errors import AlreadyExists, NotFound, WrongState
from shim.io.process_io import Stdio
from shim.supervisor.events import Created, Deleted, Event, ExecAdded, ExecStarted, Exited, Started
from shim.supervisor.supervisor import Supervisor
from tests.conftest import (
    BundleFactory,
    leaked_cgroups,
    leaked_mounts,
    needs_busybox,
    needs_root,
    open_fds,
)

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.anyio]


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    """A private state root; after the test nothing may be left in it."""
    path = tmp_path / "state"
    yield path
    left = sorted(p.name for p in path.iterdir()) if path.exists() else []
    assert left == [], f"state dirs left behind: {left}"


@pytest.fixture
async def sup(root: Path) -> AsyncIterator[Supervisor]:
    async with Supervisor.open(str(root)) as supervisor:
        yield supervisor
        with anyio.CancelScope(shield=True):
            for cid in supervisor.container_ids():
                await supervisor.delete(cid, force=True)


def children_of_us() -> list[int]:
    """Live or zombie processes whose parent is this process (/proc's view)."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        if int(raw[raw.rindex(b")") + 2 :].split()[1]) == me:
            found.append(int(entry))
    return found


def no_children_of_us(timeout: float = 5.0) -> None:
    """Orphans are reaped when their SIGCHLD is handled: give that a moment."""
    deadline = time.monotonic() + timeout
    while (left := children_of_us()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert left == [], f"processes (or zombies) of ours left: {left}"


def nothing_left(cids: list[str], bundles: list[Path]) -> None:
    for cid in cids:
        assert leaked_cgroups(cid) == [], f"cgroups of {cid} left"
    for bundle in bundles:
        assert leaked_mounts(bundle) == [], f"mounts under {bundle} left"
    no_children_of_us()


def process_json(args: list[str]) -> bytes:
    return json.dumps({"args": args, "cwd": "/", "env": ["PATH=/bin"]}).encode()


class Fifos:
    """containerd's side of one process's stdio: fifos whose read ends we hold."""

    def __init__(self, directory: Path, name: str) -> None:
        self.paths = [directory / f"{name}-stdout", directory / f"{name}-stderr"]
        self.fds = []
        for path in self.paths:
            os.mkfifo(path)
            self.fds.append(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
        self.data = [b"", b""]

    @property
    def stdio(self) -> Stdio:
        return Stdio(stdout=str(self.paths[0]), stderr=str(self.paths[1]))

    async def read_to_eof(self) -> list[bytes]:
        for i, fd in enumerate(self.fds):
            while True:
                await anyio.wait_readable(fd)
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    break
                self.data[i] += chunk
        return self.data

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)


async def test_twenty_containers_at_once_each_with_its_own_stdio(
    sup: Supervisor, make_bundle: BundleFactory, tmp_path: Path, anyio_backend: str
) -> None:
    script = (
        "echo out-$(hostname); echo err-$(hostname) >&2; "
        "trap 'exit 42' TERM; while :; do sleep 0.05; done"
    )
    ids = [f"sv20-{i}-{os.getpid()}" for i in range(20)]
    bundles = []
    for i, cid in enumerate(ids):

        def edit(config: dict[str, Any], cid: str = cid) -> None:
            config["hostname"] = cid

        bundles.append(make_bundle(["sh", "-c", script], edit=edit, name=f"b{i}"))
    fds_before = open_fds()
    results: dict[str, tuple[int, int, list[bytes], list[bytes]]] = {}

    async def one(i: int, cid: str) -> None:
        fifos, exec_fifos = Fifos(tmp_path, cid), Fifos(tmp_path, cid + "-exec")
        try:
            await sup.create(cid, str(bundles[i]), stdio=fifos.stdio)
            await sup.start(cid)
            code = i + 1
            await sup.exec(
                cid,
                "e1",
                process_json(["sh", "-c", f"echo exec-{cid}; exit {code}"]),
                stdio=exec_fifos.stdio,
            )
            exec_exit = await sup.wait(cid, "e1")
            exec_out = await exec_fifos.read_to_eof()
            await sup.delete(cid, "e1")
            await sup.kill(cid, signal.SIGTERM)
            init_exit = await sup.wait(cid)
            await sup.delete(cid)
            out = await fifos.read_to_eof()
            results[cid] = (init_exit.status, exec_exit.status, out, exec_out)
        finally:
            fifos.close()
            exec_fifos.close()

    with anyio.fail_after(120):
        async with anyio.create_task_group() as tg:
            for i, cid in enumerate(ids):
                tg.start_soon(one, i, cid)
    for i, cid in enumerate(ids):
        init_status, exec_status, out, exec_out = results[cid]
        assert init_status == 42
        assert exec_status == i + 1
        assert out == [f"out-{cid}\n".encode(), f"err-{cid}\n".encode()]  # only its own
        assert exec_out == [f"exec-{cid}\n".encode(), b""]
    nothing_left(ids, bundles)
    assert open_fds() - fds_before == set()


async def test_events_come_in_containerds_order(
    sup: Supervisor, make_bundle: BundleFactory, cid: str, anyio_backend: str
) -> None:
    events = sup.subscribe()
    bundle = make_bundle(["sh", "-c", "sleep 100"])
    with anyio.fail_after(30):
        init = await sup.create(cid, str(bundle))
        await sup.start(cid)
        exec_ = await sup.exec(cid, "e1", process_json(["sleep", "100"]))
        await sup.kill(cid, signal.SIGKILL)  # the exec dies with the pid namespace
        await sup.wait(cid)
        await sup.delete(cid, "e1")
        await sup.delete(cid)
        seen: list[Event] = []
        while not isinstance(seen[-1:] and seen[-1], Deleted):
            seen.append(await events.receive())
    events.close()
    assert [type(e) for e in seen] == [
        Created,
        Started,
        ExecAdded,
        ExecStarted,
        Exited,
        Exited,
        Deleted,
    ]
    exec_exit, init_exit = seen[4], seen[5]
    assert isinstance(exec_exit, Exited)
    assert isinstance(init_exit, Exited)
    assert (exec_exit.exec_id, exec_exit.pid, exec_exit.status) == ("e1", exec_.pid, 137)
    assert (init_exit.exec_id, init_exit.pid, init_exit.status) == ("", init.pid, 137)
    assert exec_exit.exited_at <= init_exit.exited_at <= time.time_ns()


async def test_handles_and_errors(
    sup: Supervisor, make_bundle: BundleFactory, cid: str, anyio_backend: str
) -> None:
    bundle = make_bundle(["sh", "-c", "exit 3"])
    with anyio.fail_after(30):
        init = await sup.create(cid, str(bundle))
        assert init.pid > 0
        assert init.pidfd >= 0
        assert init.start_time > 0
        assert (await sup.state(cid)).status == "created"
        with pytest.raises(AlreadyExists):
            await sup.create(cid, str(bundle))
        with pytest.raises(NotFound):
            await sup.start("no-such-container")
        await sup.start(cid)
        with pytest.raises(WrongState):
            await sup.start(cid)
        exit_ = await sup.wait(cid)
        assert exit_.status == 3
        assert (await sup.wait(cid)).exited_at == exit_.exited_at  # the same Exit, again
        state = await sup.state(cid)
        assert (state.status, state.exit_status) == ("stopped", 3)
        assert state.exited_at == exit_.exited_at
        with pytest.raises(NotFound, match="already finished"):
            await sup.kill(cid, signal.SIGTERM)
        with pytest.raises(WrongState):
            await sup.exec(cid, "late", process_json(["true"]))
        assert (await sup.delete(cid)).status == 3
        with pytest.raises(NotFound):
            await sup.state(cid)


async def test_delete_force_races_waiters_and_an_exec_without_losing_a_status(
    sup: Supervisor, make_bundle: BundleFactory, anyio_backend: str
) -> None:
    rounds = 200 if anyio_backend == "asyncio" else 100
    bundle = make_bundle(["sleep", "100"])
    slowest = 0.0
    for r in range(rounds):
        cid = f"race-{r}-{os.getpid()}"
        statuses: list[tuple[str, int]] = []
        with anyio.fail_after(30):
            await sup.create(cid, str(bundle))
            await sup.start(cid)
            await sup.exec(cid, "e", process_json(["sleep", "100"]))

            async def waiter(
                exec_id: str, cid: str = cid, statuses: list[tuple[str, int]] = statuses
            ) -> None:
                exit_ = await sup.wait(cid, exec_id)
                statuses.append((exec_id, exit_.status))

            async with anyio.create_task_group() as tg:
                for exec_id in ("", "", "", "e", "e"):
                    tg.start_soon(waiter, exec_id)
                await anyio.lowlevel.checkpoint()
                t0 = time.monotonic()
                await sup.delete(cid, force=True)
                slowest = max(slowest, time.monotonic() - t0)
        assert sorted(statuses) == [("", 137)] * 3 + [("e", 137)] * 2, f"round {r}"
    # Not a speed check (bench/ measures that): a delete that fell back on a timeout
    # (10 s for stdio or a frozen init) instead of its wake-up shows here.
    assert slowest < 3.0, f"a delete took {slowest:.2f} s"
    no_children_of_us()


async def test_orphans_are_reaped_and_the_init_status_still_arrives(
    sup: Supervisor, make_bundle: BundleFactory, cid: str, anyio_backend: str
) -> None:
    def no_pid_namespace(config: dict[str, Any]) -> None:
        config["linux"]["namespaces"] = [
            ns for ns in config["linux"]["namespaces"] if ns["type"] != "pid"
        ]

    # Each `( ... &)` double-forks: the sleeps' parent exits at once, so they are
    # re-parented to the subreaper (us) and exit while the init still runs.
    script = "(sleep 0.1 &); (sleep 0.2 &); (sleep 0.3 &); sleep 0.6; exit 5"
    bundle = make_bundle(["sh", "-c", script], edit=no_pid_namespace)
    before = sup.reaper.orphans_reaped
    with anyio.fail_after(30):
        await sup.create(cid, str(bundle))
        await sup.start(cid)
        assert (await sup.wait(cid)).status == 5
        assert (await sup.delete(cid)).status == 5
    assert sup.reaper.orphans_reaped - before >= 3  # the sleeps, and the subshells
    no_children_of_us()


@pytest.mark.parametrize("where", ["createRuntime", "createContainer", "prestart"])
async def test_a_cancelled_create_leaves_nothing_behind(
    sup: Supervisor,
    make_bundle: BundleFactory,
    cid: str,
    tmp_path: Path,
    where: str,
    anyio_backend: str,
) -> None:
    """The create blocks in a hook (in the runtime, or inside the container during the
    handshake); the caller cancels; nothing of the container may remain."""
    marker = tmp_path / "in-hook"

    def hang(config: dict[str, Any]) -> None:
        # createContainer runs in the container's namespaces before the pivot: the host's
        # paths still resolve, so the marker lands in the same place for all three
        hook = {"path": "/bin/sh", "args": ["sh", "-c", f"touch {marker}; sleep 100"]}
        config["hooks"] = {where: [hook]}

    bundle = make_bundle(["true"], edit=hang)
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:

            async def create() -> None:
                await sup.create(cid, str(bundle))

            tg.start_soon(create)
            while not marker.exists():  # noqa: ASYNC110 - a file, not a task
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    with pytest.raises(NotFound):
        await sup.state(cid)
    nothing_left([cid], [bundle])


async def test_a_cancel_while_the_oom_watch_opens_loses_neither_container_nor_watch(
    sup: Supervisor,
    make_bundle: BundleFactory,
    cid: str,
    monkeypatch: pytest.MonkeyPatch,
    anyio_backend: str,
) -> None:
    """The OOM watch is opened in a worker after the container exists. A cancel landing
    then must not strand either: the container stays the supervisor's (delete takes it),
    and the watch is relayed, so the delete closes it."""
    import threading

    from shim.supervisor.core import Core

    opened: list[object] = []
    entered = threading.Event()
    original = Core._open_oom_watch

    def slow_open(self: Core, container_id: str) -> object:
        watch = original(self, container_id)
        opened.append(watch)
        entered.set()
        time.sleep(0.3)  # the caller is cancelled meanwhile
        return watch

    monkeypatch.setattr(Core, "_open_oom_watch", slow_open)
    bundle = make_bundle(["sleep", "100"])
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:

            async def create() -> None:
                await sup.create(cid, str(bundle))

            tg.start_soon(create)
            while not entered.is_set():  # noqa: ASYNC110 - a thread's event, not a task's
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        if opened[0] is None:
            pytest.skip("no memory controller here: there is no OOM watch to open")
        assert (await sup.state(cid)).status == "created"
        await sup.delete(cid, force=True)
        watch: Any = opened[0]
        while watch.fileno() != -1:  # noqa: ASYNC110 - the relay, cancelled by delete, closes it
            await anyio.sleep(0.01)  # (bounded by fail_after above)
    nothing_left([cid], [bundle])


@pytest.mark.slow
async def test_a_thousand_cycles_in_one_process_do_not_grow(
    sup: Supervisor, make_bundle: BundleFactory, anyio_backend: str
) -> None:
    import threading

    from bench.proc import vm_rss_kb

    cycles = 1000 if anyio_backend == "asyncio" else 300
    bundle = make_bundle(["true"])
    samples: list[tuple[int, int, int]] = []
    with anyio.fail_after(600):
        for i in range(cycles):
            cid = f"k{i}-{os.getpid()}"
            await sup.create(cid, str(bundle))
            await sup.start(cid)
            assert (await sup.wait(cid)).status == 0
            await sup.delete(cid)
            if i % 100 == 99:
                samples.append((len(open_fds()), threading.active_count(), vm_rss_kb("self")))
    first, last = samples[0], samples[-1]
    assert last[0] == first[0], f"fds grew: {samples}"
    assert last[1] <= first[1] + 2, f"threads grew: {samples}"
    assert last[2] - first[2] < 4096, f"RSS grew by {last[2] - first[2]} KiB: {samples}"


async def test_log_records_name_their_container_and_never_block(
    sup: Supervisor, make_bundle: BundleFactory, cid: str, tmp_path: Path, anyio_backend: str
) -> None:
    from shim import logs

    log_file = tmp_path / "log"
    saved = logs._current
    logger = logs.setup(str(log_file), "json", debug=True)
    try:
        with anyio.fail_after(30):
            await sup.create(cid, str(make_bundle(["true"])))
            await sup.delete(cid, force=True)
        records = [json.loads(line) for line in log_file.read_text().splitlines()]
        helper = [r for r in records if r["msg"].startswith("init[")]
        assert helper, records
        assert {r.get("id") for r in helper} == {cid}
        # a pipe nobody reads: records are dropped, the caller never waits
        r, w = os.pipe2(os.O_CLOEXEC)
        stuck = logs.Logger(w, "text", "debug", to_file=False)
        sink = stuck.never_block()
        t0 = time.monotonic()
        for i in range(20000):
            stuck.info(f"record {i}", id=cid)
        assert time.monotonic() - t0 < 5
        assert sink.dropped > 0
        sink.close()
        os.close(r)
        os.close(w)
    finally:
        logger.close()
        logs._current = saved


async def test_a_failing_create_raises_the_runtime_error_itself(
    sup: Supervisor, make_bundle: BundleFactory, cid: str, anyio_backend: str
) -> None:
    from shim.errors import InitFailed

    with anyio.fail_after(30), pytest.raises(InitFailed, match="no/such/program") as info:
        await sup.create(cid, str(make_bundle(["/no/such/program"])))
    assert not isinstance(info.value, BaseExceptionGroup)  # typed, never a task group's
    with pytest.raises(NotFound):
        await sup.state(cid)


async def test_checkpoint_then_restore_in_one_process(
    sup: Supervisor, make_bundle: BundleFactory, cid: str, tmp_path: Path, criu: str,
    anyio_backend: str,
) -> None:  # fmt: skip
    from shim.runtime.criu_options import CheckpointOptions, RestoreOptions

    counter = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done"
    bundle = make_bundle(["sh", "-c", counter])
    image = tmp_path / "image"
    events = sup.subscribe()

    async def last_number(fd: int, at_least: int) -> int:
        seen = b""
        while seen.count(b"\n") < at_least:
            await anyio.wait_readable(fd)
            seen += os.read(fd, 65536)
        return int(seen.split()[-1])

    with anyio.fail_after(60):
        r1, w1 = os.pipe2(os.O_CLOEXEC)
        null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        await sup.create(cid, str(bundle), stdio=(null, w1, w1))
        os.close(w1)
        await sup.start(cid)
        before = await last_number(r1, 5)
        await sup.checkpoint(cid, CheckpointOptions(image_path=str(image), criu=criu))
        assert (await sup.wait(cid)).status == 137  # criu killed it, as runc's checkpoint
        await sup.delete(cid)
        os.close(r1)
        # a new container from the image, restored at start
        r2, w2 = os.pipe2(os.O_CLOEXEC)
        restore = RestoreOptions(image_path=str(image), criu=criu)
        handle = await sup.create(cid, str(bundle), stdio=(null, w2, w2), checkpoint=restore)
        os.close(w2)
        os.close(null)
        assert handle.pid == 0  # nothing runs before start
        await sup.start(cid)
        after = await last_number(r2, 3)
        assert before < after <= before + 20  # it went on from the image, not from zero
        await sup.kill(cid, signal.SIGKILL)
        await sup.wait(cid)
        await sup.delete(cid)
        os.close(r2)
    kinds = []
    while True:
        try:
            kinds.append(type(events.receive_nowait()).__name__)
        except anyio.WouldBlock:
            break
    assert kinds == [
        "Created", "Started", "Exited", "Deleted", "Created", "Started", "Exited", "Deleted",
    ]  # fmt: skip
