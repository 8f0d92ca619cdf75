"""The supervisor: many containers in one long-lived async process (asyncio or trio).

    async with Supervisor.open("/run/shim") as sup:
        init = await sup.create("c1", "/bundles/c1", stdio=(0, out_w, err_w))
        await sup.start("c1")
        exit_ = await sup.wait("c1")          # Exit(status, exited_at)
        await sup.delete("c1")

It is the child subreaper and owns the one `Reaper`: every process it starts (helpers,
hooks, inits, exec'd processes) is adopted with a pidfd, its status collected once and
stamped, and handed to every waiter; orphans are reaped without touching a known
process. Each container's operations run the runtime library (`shim.runtime`) in worker
threads, cancellably (`blocking.run_blocking`); waits, stdio pumps, exit and OOM
watches are tasks of the supervisor's task group. Lifecycle events go to `subscribe()`
streams in containerd's order (`events.py`).

Leaving `open()` stops the supervisor's tasks (pumps, watches); containers that were
not deleted keep running.
"""

from __future__ import annotations

import _signal
import os
import signal
from contextlib import asynccontextmanager
from functools import partial

import anyio
import msgspec

from shim.cgroups.prime import prime_cgroup_migration
from shim.errors import AlreadyExists, NotFound, WrongState
from shim.logs import get_logger, never_block
from shim.runtime.state_store import DEFAULT_ROOT, StateStore
from shim.supervisor.blocking import run_blocking
from shim.supervisor.events import (
    Created,
    Deleted,
    EventBus,
    ExecAdded,
    ExecStarted,
    Exited,
    Oom,
    Paused,
    Resumed,
    Started,
)
from shim.supervisor.orphans import reap_orphans
from shim.supervisor.process import STOPPED, ContainerStats, ProcessHandle, ProcessState
from shim.supervisor.reaper import Reaper
from shim.supervisor.stdio_setup import (
    StdioSetup,
    close_copies,
    dup_fd,
    fds_of,
    stdio_strings,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from anyio.abc import TaskGroup
    from anyio.streams.memory import MemoryObjectReceiveStream

    from shim.cancel import CancelToken
    from shim.cgroups.oom import OomWatch
    from shim.children import Exit
    from shim.runtime.create import Created as Created_
    from shim.runtime.create import CreateOptions
    from shim.runtime.criu_options import CheckpointOptions, CheckpointResult, RestoreOptions
    from shim.spec.model import Process, Spec
    from shim.spec.resources import Resources
    from shim.supervisor.events import Event
    from shim.supervisor.stdio_setup import StdioSpec


class PidInfo:
    """A process of a container's cgroup, and which exec it is ("" for the init or any
    process they started)."""

    __slots__ = ("exec_id", "pid")

    def __init__(self, pid: int, exec_id: str) -> None:
        self.pid = pid
        self.exec_id = exec_id

    def __repr__(self) -> str:
        return f"PidInfo({self.pid}, {self.exec_id!r})"


class _Container:
    """The supervisor's record of one container it created."""

    def __init__(self, container_id: str, bundle: str) -> None:
        self.id = container_id
        self.bundle = bundle
        self.init = ProcessHandle(container_id, "")
        self.execs: dict[str, ProcessHandle] = {}
        self.pending: dict[str, tuple[Process, StdioSpec]] = {}  # added, not started
        self.own_pid_ns = True
        self.lock = anyio.Lock()  # create/start/delete/pause/resume/update, one at a time
        self.oom: anyio.CancelScope | None = None
        self.deleted = False
        # create from a checkpoint: restored at start (containerd's createdCheckpointState)
        self.restore: tuple[RestoreOptions, StdioSpec] | None = None


class Supervisor:
    """See the module docstring. Create with `Supervisor.open(root)`."""

    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.store = StateStore(root)
        self.reaper = Reaper()
        self._bus = EventBus()
        self._containers: dict[str, _Container] = {}
        self._tg: TaskGroup | None = None

    @classmethod
    @asynccontextmanager
    async def open(
        cls, root: str = DEFAULT_ROOT, *, subreaper: bool = True
    ) -> AsyncIterator[Supervisor]:
        """Run a supervisor for containers under state root `root` (runc's `--root`).
        `subreaper`: be the child subreaper while it runs (orphans come to us to be reaped);
        off again once it is left."""
        sup = cls(root)
        never_block()  # a log pipe nobody reads must not stall every container
        from shim.sys import set_child_subreaper

        if subreaper:
            set_child_subreaper()
        async with anyio.create_task_group() as tg:
            sup._tg = tg
            await tg.start(partial(reap_orphans, sup.reaper))
            try:
                yield sup
            finally:
                sup._bus.close()
                tg.cancel_scope.cancel()
                if subreaper:
                    set_child_subreaper(False)

    # -- events ------------------------------------------------------------------------

    def subscribe(self) -> MemoryObjectReceiveStream[Event]:
        """Every lifecycle event from now on (see events.py); close the stream to leave."""
        return self._bus.subscribe()

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """`listener(event)` runs synchronously as each event is published: before an
        exit's waiters are released (containerd: enqueue TaskExit no later than Wait)."""
        self._bus.add_listener(listener)

    def container_ids(self) -> list[str]:
        """The containers this supervisor runs (created and not yet deleted)."""
        return sorted(self._containers)

    def init_pid(self, container_id: str) -> int | None:
        record = self._containers.get(container_id)
        return record.init.pid if record is not None and record.init.pid else None

    # -- containers --------------------------------------------------------------------

    async def create(
        self,
        container_id: str,
        bundle: str,
        *,
        stdio: StdioSpec = None,
        options: CreateOptions | None = None,
        checkpoint: RestoreOptions | None = None,
    ) -> ProcessHandle:
        """Create a container whose init waits for `start`; its handle (pid, pidfd, start
        time). `stdio`: see StdioSpec; with `process.terminal` the pty is made, and its
        master is pumped to `stdio`'s strings, or kept as `handle.master`. A cancel, or
        any failure, leaves nothing behind.

        With `checkpoint`, nothing runs yet (the handle's pid is 0): `start` restores the
        container from the image (containerd's Create with a checkpoint, then Start)."""
        from shim.runtime.create import CreateOptions, create_container, load_bundle

        if container_id in self._containers:
            raise AlreadyExists(f"container {container_id}: already exists")
        prime_cgroup_migration()  # the kernel's wait overlaps reading and planning
        bundle = os.path.abspath(bundle)  # noqa: ASYNC240 - a getcwd, no file I/O
        record = _Container(container_id, bundle)
        self._containers[container_id] = record
        if checkpoint is not None:
            return await self._create_from_checkpoint(record, checkpoint, stdio)
        try:
            async with record.lock:
                loaded = await run_blocking(lambda _: load_bundle(record.bundle))
                opts = _copy_options(options) if options is not None else CreateOptions()
                opts.loaded = loaded
                record.own_pid_ns = _own_pid_namespace(loaded[0])
                handle = record.init
                handle.terminal = bool(loaded[0].process and loaded[0].process.terminal)
                with StdioSetup(stdio, handle.terminal) as setup:
                    await setup.ready()
                    opts.stdio, opts.console_fd = setup.child_stdio, setup.console_theirs

                    def create(token: CancelToken) -> Created_:
                        return create_container(
                            self.store, container_id, record.bundle, opts, self.reaper, token
                        )

                    created = await run_blocking(create)
                    handle.child = created.init
                    await setup.attach(self._group, handle)
        except BaseException:
            del self._containers[container_id]
            raise
        self._group.start_soon(self._watch_exit, record, handle)
        self._watch_oom(record)
        self._bus.publish(Created(container_id, handle.pid, record.bundle))
        return handle

    async def start(self, container_id: str, exec_id: str = "") -> ProcessHandle:
        """Start the init (it execs the container's process) or an added exec'd process."""
        record = self._get(container_id)
        if exec_id:
            return await self._start_exec(record, exec_id)
        from shim.runtime.start import start_container

        handle = record.init
        if record.restore is not None:
            return await self._restore(record)
        async with record.lock:
            if handle.started or handle.status == STOPPED:
                raise WrongState(
                    f"container {container_id}: cannot start a {handle.status} process"
                )
            handle.starting()
            try:
                await run_blocking(
                    lambda token: start_container(
                        self.store, container_id, self.reaper, cancel=token
                    )
                )
                handle.started = True
                self._bus.publish(Started(container_id, handle.pid))
            finally:
                handle.start_settled()
        return handle

    async def _create_from_checkpoint(
        self, record: _Container, checkpoint: RestoreOptions, stdio: StdioSpec
    ) -> ProcessHandle:
        from shim.runtime.create import load_bundle

        try:
            loaded = await run_blocking(lambda _: load_bundle(record.bundle))
        except BaseException:
            del self._containers[record.id]
            raise
        record.own_pid_ns = _own_pid_namespace(loaded[0])
        record.init.terminal = bool(loaded[0].process and loaded[0].process.terminal)
        fds = fds_of(stdio)
        if fds is not None:  # used at start: copies of ours, whatever the caller does
            stdio = (dup_fd(fds[0]), dup_fd(fds[1]), dup_fd(fds[2]))
        record.restore = (msgspec.structs.replace(checkpoint, loaded=loaded), stdio)
        self._bus.publish(Created(record.id, 0, record.bundle))
        return record.init

    async def _restore(self, record: _Container) -> ProcessHandle:
        """The start of a container created from a checkpoint: criu restores its tree."""
        from shim.runtime.restore import restore_container

        handle = record.init
        async with record.lock:
            if record.restore is None:
                raise WrongState(f"container {record.id}: cannot start a {handle.status} process")
            opts, stdio = record.restore
            handle.starting()
            try:
                with StdioSetup(stdio, handle.terminal) as setup:
                    await setup.ready()
                    opts = msgspec.structs.replace(
                        opts, stdio=setup.child_stdio, console_fd=setup.console_theirs
                    )

                    def restore(token: CancelToken) -> Created_:
                        return restore_container(
                            self.store, record.id, record.bundle, opts, self.reaper, token
                        )

                    try:
                        created = await run_blocking(restore)
                    finally:
                        close_copies(stdio)
                        record.restore = None  # one try: a failed restore stays failed
                    handle.child = created.init
                    handle.started = True
                    await setup.attach(self._group, handle)
                self._group.start_soon(self._watch_exit, record, handle)
                self._watch_oom(record)
                self._bus.publish(Started(record.id, handle.pid))
            finally:
                handle.start_settled()
        return handle

    async def checkpoint(self, container_id: str, options: CheckpointOptions) -> CheckpointResult:
        """Dump the container with criu into `options.image_path`; unless
        `options.leave_running`, it then stops (criu kills it) and is deleted on disk, as
        runc does; its exit is announced as any other."""
        from shim.runtime.checkpoint import checkpoint_container

        record = self._get(container_id)
        async with record.lock:
            return await run_blocking(
                lambda token: checkpoint_container(
                    self.store, container_id, options, self.reaper, token
                )
            )

    async def add_exec(
        self,
        container_id: str,
        exec_id: str,
        process: Process | bytes,
        *,
        stdio: StdioSpec = None,
    ) -> ProcessHandle:
        """Register a process to run in the container (containerd's Exec); `start(id,
        exec_id)` runs it. `process` is an OCI Process, or its JSON (as containerd sends)."""
        from shim.spec.load import load_process
        from shim.spec.process_rules import validate_process

        record = self._get(container_id)
        if not exec_id:
            raise NotFound("exec id must not be empty")
        if exec_id in record.execs:
            raise AlreadyExists(f"id {exec_id}: already exists")
        if record.init.status == STOPPED:
            raise WrongState(f"container {container_id}: cannot exec in a stopped container")
        proc = load_process(process, "process") if isinstance(process, bytes) else process
        validate_process(proc)
        record.execs[exec_id] = ProcessHandle(container_id, exec_id, terminal=proc.terminal)
        record.pending[exec_id] = (proc, stdio)
        self._bus.publish(ExecAdded(container_id, exec_id))
        return record.execs[exec_id]

    async def exec(
        self,
        container_id: str,
        exec_id: str,
        process: Process | bytes,
        *,
        stdio: StdioSpec = None,
    ) -> ProcessHandle:
        """add_exec + start: the process runs once this returns."""
        await self.add_exec(container_id, exec_id, process, stdio=stdio)
        try:
            return await self.start(container_id, exec_id)
        except BaseException:
            record = self._containers.get(container_id)
            if record is not None:
                record.execs.pop(exec_id, None)
                record.pending.pop(exec_id, None)
            raise

    async def _start_exec(self, record: _Container, exec_id: str) -> ProcessHandle:
        from shim.runtime.exec import ExecOptions, exec_process

        handle = self._exec_handle(record, exec_id)
        pending = record.pending.pop(exec_id, None)
        if pending is None:
            raise WrongState(f"exec {exec_id}: cannot start a {handle.status} process")
        prime_cgroup_migration()  # the exec'd helper joins the cgroups too
        proc, stdio = pending
        handle.starting()
        try:
            with StdioSetup(stdio, handle.terminal) as setup:
                await setup.ready()
                opts = ExecOptions(
                    process=proc, stdio=setup.child_stdio, console_fd=setup.console_theirs
                )
                handle.child = await run_blocking(
                    lambda token: exec_process(
                        self.store, record.id, opts, self.reaper, cancel=token
                    )
                )
                handle.started = True
                await setup.attach(self._group, handle)
            self._group.start_soon(self._watch_exit, record, handle)
            self._bus.publish(ExecStarted(record.id, exec_id, handle.pid))
        except BaseException:
            record.execs.pop(exec_id, None)
            raise
        finally:
            handle.start_settled()
        return handle

    async def kill(
        self, container_id: str, sig: int, *, exec_id: str = "", all_processes: bool = False
    ) -> None:
        """Signal the init, one exec'd process, or (all_processes) every process of the
        container. NotFound once the process has exited (containerd's rule)."""
        record = self._get(container_id)
        handle = self._exec_handle(record, exec_id) if exec_id else record.init
        if exec_id or not all_processes:
            if handle.child is None:
                raise WrongState(f"process {exec_id or container_id}: not started")
            if handle.status == STOPPED:
                raise NotFound("process already finished")
        if exec_id:
            try:
                _signal.pidfd_send_signal(handle.pidfd, sig)
            except ProcessLookupError:
                raise NotFound("process already finished") from None
            return
        from shim.runtime.kill import kill_container

        await run_blocking(lambda _: kill_container(self.store, container_id, sig, all_processes))

    async def pause(self, container_id: str) -> None:
        from shim.runtime.pause import pause_container

        record = self._get(container_id)
        async with record.lock:
            await run_blocking(lambda _: pause_container(self.store, container_id))
        self._bus.publish(Paused(container_id))

    async def resume(self, container_id: str) -> None:
        from shim.runtime.pause import resume_container

        record = self._get(container_id)
        async with record.lock:
            await run_blocking(lambda _: resume_container(self.store, container_id))
        self._bus.publish(Resumed(container_id))

    async def update(self, container_id: str, resources: Resources | bytes) -> None:
        """New cgroup limits: a LinuxResources Struct, or its JSON (containerd's Update)."""
        from shim.runtime.update import update_container
        from shim.runtime.update_request import from_json

        record = self._get(container_id)
        res = from_json(resources) if isinstance(resources, bytes) else resources
        async with record.lock:
            await run_blocking(lambda _: update_container(self.store, container_id, res))

    async def pids(self, container_id: str) -> list[PidInfo]:
        """Every process in the container's cgroup, with its exec id where it is one."""
        from shim.runtime.ps import container_pids

        record = self._get(container_id)
        pids = await run_blocking(lambda _: container_pids(self.store, container_id))
        by_pid = {h.pid: h.exec_id for h in record.execs.values() if h.pid}
        return [PidInfo(pid, by_pid.get(pid, "")) for pid in pids]

    async def stats(self, container_id: str) -> ContainerStats:
        """The container's cgroup statistics: runc's `events --stats` data, with the cgroup
        manager's mode (v1, v2, hybrid) and paths, for readers that want the files."""
        from shim.runtime.container import Container
        from shim.runtime.container_stats import stats_now

        self._get(container_id)

        def read(_: CancelToken) -> ContainerStats:
            with Container.open(self.store, container_id) as container:
                mode, paths = container.manager().mode, dict(container.state.cgroup_paths)
            data = stats_now(self.store, container_id).data or {}
            return ContainerStats(mode=mode, cgroup_paths=paths, data=data)

        return await run_blocking(read)

    async def state(self, container_id: str, exec_id: str = "") -> ProcessState:
        """The init's (or an exec'd process's) state; the init's status is derived from
        the kernel (paused is the cgroup's freezer)."""
        record = self._get(container_id)
        handle = self._exec_handle(record, exec_id) if exec_id else record.init
        status = handle.status
        if not exec_id and status != STOPPED:
            from shim.runtime.query import container_state

            doc = await run_blocking(lambda _: container_state(self.store, container_id))
            status = str(doc["status"])
        exit_ = handle.exit
        stdio = stdio_strings(handle)
        return ProcessState(
            id=container_id,
            exec_id=exec_id,
            pid=handle.pid,
            status=status,
            exit_status=exit_.status if exit_ is not None else 0,
            exited_at=exit_.exited_at if exit_ is not None else 0,
            bundle=record.bundle,
            terminal=handle.terminal,
            stdin=stdio.stdin,
            stdout=stdio.stdout,
            stderr=stdio.stderr,
        )

    async def wait(self, container_id: str, exec_id: str = "") -> Exit:
        """Block until the process exits (at once if it has); its Exit."""
        record = self._get(container_id)
        handle = self._exec_handle(record, exec_id) if exec_id else record.init
        return await handle.wait()

    def close_stdin(self, container_id: str, exec_id: str = "") -> None:
        """containerd's CloseIO: the process reads EOF once the client closed its end."""
        record = self._get(container_id)
        handle = self._exec_handle(record, exec_id) if exec_id else record.init
        if handle.io is not None:
            handle.io.close_stdin()

    def resize_pty(self, container_id: str, exec_id: str, width: int, height: int) -> None:
        from shim.io.pty import resize

        record = self._get(container_id)
        handle = self._exec_handle(record, exec_id) if exec_id else record.init
        if handle.io is not None:
            handle.io.resize(width, height)
        elif handle.master >= 0:
            resize(handle.master, width, height)

    async def delete(self, container_id: str, exec_id: str = "", *, force: bool = False) -> Exit:
        """Remove an exited exec'd process, or the container (its init stopped, or never
        started; `force`: also a running one). Returns the process's exit."""
        record = self._get(container_id)
        if exec_id:
            return await self._delete_exec(record, exec_id, force)
        from shim.runtime.delete import delete_container

        if record.restore is not None or record.init.child is None:  # never (re)started
            if record.restore is not None:
                close_copies(record.restore[1])
            del self._containers[container_id]
            from shim.children import Exit

            never = Exit(0, 0, 0)
            self._bus.publish(Deleted(container_id, 0, 0, 0))
            return never
        async with record.lock:
            if not force and record.init.started and record.init.status != STOPPED:
                raise WrongState(
                    f"cannot delete container {container_id} that is not stopped: running"
                )
            await run_blocking(
                lambda token: delete_container(
                    self.store, container_id, self.reaper, force=True, cancel=token
                )
            )
            with anyio.CancelScope(shield=True):
                exit_ = await record.init.wait()
                for handle in list(record.execs.values()):
                    if handle.child is not None:
                        await handle.wait()
                    await self._forget(handle)
                await self._forget(record.init)
            if record.oom is not None:
                record.oom.cancel()
            record.deleted = True
            del self._containers[container_id]
        self._bus.publish(Deleted(container_id, exit_.pid, exit_.status, exit_.exited_at))
        return exit_

    async def _delete_exec(self, record: _Container, exec_id: str, force: bool) -> Exit:
        handle = self._exec_handle(record, exec_id)
        if handle.child is None:  # added, never started
            record.execs.pop(exec_id)
            record.pending.pop(exec_id, None)
            from shim.children import Exit

            return Exit(0, 0, 0)
        if not handle.exited:
            if not force:
                raise WrongState(f"exec {exec_id}: cannot delete a running process")
            try:
                _signal.pidfd_send_signal(handle.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
        with anyio.CancelScope(shield=True):
            exit_ = await handle.wait()
            await self._forget(handle)
        record.execs.pop(exec_id, None)
        return exit_

    # -- internals ---------------------------------------------------------------------

    @property
    def _group(self) -> TaskGroup:
        if self._tg is None:
            raise WrongState("the supervisor is not running (use Supervisor.open)")
        return self._tg

    def _get(self, container_id: str) -> _Container:
        record = self._containers.get(container_id)
        if record is None:
            raise NotFound(f"container {container_id}: not found")
        return record

    def _exec_handle(self, record: _Container, exec_id: str) -> ProcessHandle:
        handle = record.execs.get(exec_id)
        if handle is None:
            raise NotFound(f"exec {exec_id} in container {record.id}: not found")
        return handle

    async def _forget(self, handle: ProcessHandle) -> None:
        """After the exit: drain its outputs (up to 2 s, as the runc shim), then let go."""
        if handle.io is not None:
            await handle.io.finish()
            handle.io = None
        if handle.master >= 0:
            os.close(handle.master)
            handle.master = -1
        if handle.child is not None:
            self.reaper.release(handle.child)

    async def _watch_exit(self, record: _Container, handle: ProcessHandle) -> None:
        """Reap the process when it exits, then announce it, in containerd's order."""
        child = handle.child
        assert child is not None
        exit_ = self.reaper.collect(child)
        while exit_ is None:
            await anyio.wait_readable(child.pidfd)
            exit_ = self.reaper.collect(child)
        await handle.settled()  # Started/ExecStarted goes out first
        if not handle.exec_id:
            if not record.own_pid_ns:
                await self._kill_rest(record)  # the kernel does it with a pid namespace
            for other in list(record.execs.values()):
                if other.child is not None:
                    await other.wait()  # every exec's exit before the init's
        self._bus.publish(
            Exited(record.id, handle.exec_id, exit_.pid, exit_.status, exit_.exited_at)
        )
        handle.announce_exit(exit_)

    async def _kill_rest(self, record: _Container) -> None:
        from shim.runtime.kill import kill_container

        try:
            await run_blocking(
                lambda _: kill_container(self.store, record.id, signal.SIGKILL, True)
            )
        except Exception as err:
            get_logger().warning(f"kill the rest of the container: {err}", id=record.id)

    def _watch_oom(self, record: _Container) -> None:
        from shim.runtime.container import Container

        try:
            with Container.open(self.store, record.id) as container:
                manager = container.manager()
                if manager.mode != "v2" and "memory" not in manager.paths:
                    return  # no memory controller: nothing can report an OOM
                watch = manager.oom_watch()
        except Exception as err:
            get_logger().warning(f"no OOM events: {err}", id=record.id)
            return
        scope = anyio.CancelScope()
        record.oom = scope
        self._group.start_soon(self._oom_loop, record, watch, scope)

    async def _oom_loop(
        self, record: _Container, watch: OomWatch, scope: anyio.CancelScope
    ) -> None:
        try:
            with scope:
                while True:
                    await anyio.wait_readable(watch.fileno())
                    count = watch.read()
                    if count is None:
                        return  # the memory cgroup was removed
                    for _ in range(count):
                        self._bus.publish(Oom(record.id))
        finally:
            watch.close()


def _own_pid_namespace(spec: Spec) -> bool:
    linux = spec.linux
    return linux is not None and any(ns.type == "pid" and not ns.path for ns in linux.namespaces)


def _copy_options(options: CreateOptions) -> CreateOptions:
    from shim.runtime.create import CreateOptions

    return CreateOptions(
        pid_file=options.pid_file,
        no_pivot=options.no_pivot,
        no_new_keyring=options.no_new_keyring,
        preserve_fds=options.preserve_fds,
    )
