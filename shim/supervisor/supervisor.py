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
not deleted keep running. The parts: core.py (the records, exit and OOM watches),
execs.py (exec'd processes), checkpoints.py (criu); this module is the API.
"""

from __future__ import annotations

import _signal
import os
from contextlib import asynccontextmanager
from functools import partial

import anyio

from shim.cgroups.prime import prime_cgroup_migration
from shim.errors import AlreadyExists, NotFound, WrongState
from shim.logs import never_block
from shim.runtime.state_store import DEFAULT_ROOT, StateStore
from shim.supervisor import checkpoints, execs
from shim.supervisor.blocking import run_blocking
from shim.supervisor.core import ContainerRecord, Core, PidInfo, own_pid_namespace
from shim.supervisor.events import Created, Deleted, Paused, Resumed, Started
from shim.supervisor.orphans import reap_orphans
from shim.supervisor.process import STOPPED, ContainerStats, ProcessHandle, ProcessState
from shim.supervisor.stdio_setup import StdioSetup, close_copies, stdio_strings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from anyio.streams.memory import MemoryObjectReceiveStream

    from shim.cancel import CancelToken
    from shim.children import Exit
    from shim.runtime.create import Created as Created_
    from shim.runtime.create import CreateOptions
    from shim.runtime.criu_options import CheckpointOptions, CheckpointResult, RestoreOptions
    from shim.spec.model import Process
    from shim.spec.resources import Resources
    from shim.supervisor.events import Event
    from shim.supervisor.stdio_setup import StdioSpec


__all__ = ["PidInfo", "Supervisor"]


class Supervisor:
    """See the module docstring. Create with `Supervisor.open(root)`."""

    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self._core = Core(StateStore(root))
        self.store = self._core.store
        self.reaper = self._core.reaper

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
            sup._core.tg = tg
            await tg.start(partial(reap_orphans, sup.reaper))
            try:
                yield sup
            finally:
                sup._core.bus.close()
                tg.cancel_scope.cancel()
                if subreaper:
                    set_child_subreaper(False)

    # -- events ------------------------------------------------------------------------

    def subscribe(self) -> MemoryObjectReceiveStream[Event]:
        """Every lifecycle event from now on (see events.py); close the stream to leave."""
        return self._core.bus.subscribe()

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """`listener(event)` runs synchronously as each event is published: before an
        exit's waiters are released (containerd: enqueue TaskExit no later than Wait)."""
        self._core.bus.add_listener(listener)

    def container_ids(self) -> list[str]:
        """The containers this supervisor runs (created and not yet deleted)."""
        return sorted(self._core.containers)

    def init_pid(self, container_id: str) -> int | None:
        record = self._core.containers.get(container_id)
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

        if container_id in self._core.containers:
            raise AlreadyExists(f"container {container_id}: already exists")
        prime_cgroup_migration()  # the kernel's wait overlaps reading and planning
        bundle = os.path.abspath(bundle)  # noqa: ASYNC240 - a getcwd, no file I/O
        record = ContainerRecord(container_id, bundle)
        self._core.containers[container_id] = record
        if checkpoint is not None:
            return await checkpoints.create_from_checkpoint(self._core, record, checkpoint, stdio)
        try:
            async with record.lock:
                loaded = await run_blocking(lambda _: load_bundle(record.bundle))
                opts = _copy_options(options) if options is not None else CreateOptions()
                opts.loaded = loaded
                record.own_pid_ns = own_pid_namespace(loaded[0])
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
                    await setup.attach(self._core.group, handle)
        except BaseException:
            del self._core.containers[container_id]
            raise
        self._core.group.start_soon(self._core.watch_exit, record, handle)
        await self._core.watch_oom(record)
        self._core.bus.publish(Created(container_id, handle.pid, record.bundle))
        return handle

    async def start(self, container_id: str, exec_id: str = "") -> ProcessHandle:
        """Start the init (it execs the container's process) or an added exec'd process."""
        record = self._core.get(container_id)
        if exec_id:
            return await execs.start_exec(self._core, record, exec_id)
        from shim.runtime.start import start_container

        handle = record.init
        if record.restore is not None:
            return await checkpoints.restore(self._core, record)
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
                self._core.bus.publish(Started(container_id, handle.pid))
            finally:
                handle.start_settled()
        return handle

    async def checkpoint(self, container_id: str, options: CheckpointOptions) -> CheckpointResult:
        """Dump the container with criu into `options.image_path`; unless
        `options.leave_running`, it then stops (criu kills it) and is deleted on disk, as
        runc does; its exit is announced as any other."""
        return await checkpoints.checkpoint(self._core, container_id, options)

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
        return execs.add_exec(self._core, container_id, exec_id, process, stdio)

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
            execs.forget_added(self._core, container_id, exec_id)
            raise

    async def kill(
        self, container_id: str, sig: int, *, exec_id: str = "", all_processes: bool = False
    ) -> None:
        """Signal the init, one exec'd process, or (all_processes) every process of the
        container. NotFound once the process has exited (containerd's rule)."""
        handle = self._core.process(container_id, exec_id)
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

        record = self._core.get(container_id)
        async with record.lock:
            await run_blocking(lambda _: pause_container(self.store, container_id))
        self._core.bus.publish(Paused(container_id))

    async def resume(self, container_id: str) -> None:
        from shim.runtime.pause import resume_container

        record = self._core.get(container_id)
        async with record.lock:
            await run_blocking(lambda _: resume_container(self.store, container_id))
        self._core.bus.publish(Resumed(container_id))

    async def update(self, container_id: str, resources: Resources | bytes) -> None:
        """New cgroup limits: a LinuxResources Struct, or its JSON (containerd's Update)."""
        from shim.runtime.update import update_container
        from shim.runtime.update_request import from_json

        record = self._core.get(container_id)
        res = from_json(resources) if isinstance(resources, bytes) else resources
        async with record.lock:
            await run_blocking(lambda _: update_container(self.store, container_id, res))

    async def pids(self, container_id: str) -> list[PidInfo]:
        """Every process in the container's cgroup, with its exec id where it is one."""
        from shim.runtime.ps import container_pids

        record = self._core.get(container_id)
        pids = await run_blocking(lambda _: container_pids(self.store, container_id))
        by_pid = {h.pid: h.exec_id for h in record.execs.values() if h.pid}
        return [PidInfo(pid, by_pid.get(pid, "")) for pid in pids]

    async def stats(self, container_id: str) -> ContainerStats:
        """The container's cgroup statistics: runc's `events --stats` data, with the cgroup
        manager's mode (v1, v2, hybrid) and paths, for readers that want the files."""
        from shim.runtime.container import Container
        from shim.runtime.container_stats import stats_now

        self._core.get(container_id)

        def read(_: CancelToken) -> ContainerStats:
            with Container.open(self.store, container_id) as container:
                mode, paths = container.manager().mode, dict(container.state.cgroup_paths)
            data = stats_now(self.store, container_id).data or {}
            return ContainerStats(mode=mode, cgroup_paths=paths, data=data)

        return await run_blocking(read)

    async def state(self, container_id: str, exec_id: str = "") -> ProcessState:
        """The init's (or an exec'd process's) state; the init's status is derived from
        the kernel (paused is the cgroup's freezer)."""
        handle = self._core.process(container_id, exec_id)
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
            bundle=self._core.get(container_id).bundle,
            terminal=handle.terminal,
            stdin=stdio.stdin,
            stdout=stdio.stdout,
            stderr=stdio.stderr,
        )

    async def wait(self, container_id: str, exec_id: str = "") -> Exit:
        """Block until the process exits (at once if it has); its Exit."""
        handle = self._core.process(container_id, exec_id)
        return await handle.wait()

    def close_stdin(self, container_id: str, exec_id: str = "") -> None:
        """containerd's CloseIO: the process reads EOF once the client closed its end."""
        handle = self._core.process(container_id, exec_id)
        if handle.io is not None:
            handle.io.close_stdin()

    def resize_pty(self, container_id: str, exec_id: str, width: int, height: int) -> None:
        from shim.io.pty import resize

        handle = self._core.process(container_id, exec_id)
        if handle.io is not None:
            handle.io.resize(width, height)
        elif handle.master >= 0:
            resize(handle.master, width, height)

    async def delete(self, container_id: str, exec_id: str = "", *, force: bool = False) -> Exit:
        """Remove an exited exec'd process, or the container (its init stopped, or never
        started; `force`: also a running one). Returns the process's exit."""
        record = self._core.get(container_id)
        if exec_id:
            return await execs.delete_exec(self._core, record, exec_id, force)
        from shim.runtime.delete import delete_container

        if record.restore is not None or record.init.child is None:  # never (re)started
            if record.restore is not None:
                close_copies(record.restore[1])
            del self._core.containers[container_id]
            from shim.children import Exit

            never = Exit(0, 0, 0)
            self._core.bus.publish(Deleted(container_id, 0, 0, 0))
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
                    await self._core.forget(handle)
                await self._core.forget(record.init)
            if record.oom is not None:
                record.oom.cancel()
            record.deleted = True
            del self._core.containers[container_id]
        self._core.bus.publish(Deleted(container_id, exit_.pid, exit_.status, exit_.exited_at))
        return exit_


def _copy_options(options: CreateOptions) -> CreateOptions:
    from shim.runtime.create import CreateOptions

    return CreateOptions(
        pid_file=options.pid_file,
        no_pivot=options.no_pivot,
        no_new_keyring=options.no_new_keyring,
        preserve_fds=options.preserve_fds,
    )
