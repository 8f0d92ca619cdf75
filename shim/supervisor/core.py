"""What the supervisor's parts share: the records of its containers, and the work every
part does on them (look up, watch an exit, watch OOM, let a process go).

`Supervisor` (supervisor.py) is the public API; `execs.py` and `checkpoints.py` carry
its exec'd processes and its checkpoint/restore path. All of them work on one `Core`:
the state store, the one `Reaper`, the event bus, the container records and the task
group the watches run in.
"""

from __future__ import annotations

import os
import signal

import anyio

from shim.errors import NotFound, WrongState
from shim.logs import get_logger
from shim.runtime.state_store import StateStore
from shim.supervisor.blocking import run_blocking
from shim.supervisor.events import EventBus, Exited, relay_ooms
from shim.supervisor.process import ProcessHandle
from shim.supervisor.reaper import Reaper

TYPE_CHECKING = False
if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from shim.cgroups.oom import OomWatch
    from shim.runtime.criu_options import RestoreOptions
    from shim.spec.model import Process, Spec
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


class ContainerRecord:
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


class Core:
    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.reaper = Reaper()
        self.bus = EventBus()
        self.containers: dict[str, ContainerRecord] = {}
        self.tg: TaskGroup | None = None

    @property
    def group(self) -> TaskGroup:
        if self.tg is None:
            raise WrongState("the supervisor is not running (use Supervisor.open)")
        return self.tg

    def get(self, container_id: str) -> ContainerRecord:
        record = self.containers.get(container_id)
        if record is None:
            raise NotFound(f"container {container_id}: not found")
        return record

    def exec_handle(self, record: ContainerRecord, exec_id: str) -> ProcessHandle:
        handle = record.execs.get(exec_id)
        if handle is None:
            raise NotFound(f"exec {exec_id} in container {record.id}: not found")
        return handle

    def process(self, container_id: str, exec_id: str) -> ProcessHandle:
        """The container's init ("") or its exec'd process `exec_id`."""
        record = self.get(container_id)
        return self.exec_handle(record, exec_id) if exec_id else record.init

    async def forget(self, handle: ProcessHandle) -> None:
        """After the exit: drain its outputs (up to 2 s, as the runc shim), then let go."""
        if handle.io is not None:
            await handle.io.finish()
            handle.io = None
        if handle.master >= 0:
            os.close(handle.master)
            handle.master = -1
        if handle.child is not None:
            self.reaper.release(handle.child)

    async def watch_exit(self, record: ContainerRecord, handle: ProcessHandle) -> None:
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
        self.bus.publish(
            Exited(record.id, handle.exec_id, exit_.pid, exit_.status, exit_.exited_at)
        )
        handle.announce_exit(exit_)

    async def _kill_rest(self, record: ContainerRecord) -> None:
        from shim.runtime.kill import kill_container

        try:
            await run_blocking(
                lambda _: kill_container(self.store, record.id, signal.SIGKILL, True)
            )
        except Exception as err:
            get_logger().warning(f"kill the rest of the container: {err}", id=record.id)

    async def watch_oom(self, record: ContainerRecord) -> None:
        """Relay the container's OOM kills as Oom events until it is deleted. The watch is
        opened (state, cgroup files) in a worker, and before this returns: an OOM right
        after start is not missed. Shielded: the container exists by now, so a cancel
        here would strand the opened watch (its fds) unrelayed; the open is quick, and
        the caller's cancel arrives at its next checkpoint."""
        with anyio.CancelScope(shield=True):
            watch = await run_blocking(lambda _: self._open_oom_watch(record.id))
        if watch is None:
            return
        scope = anyio.CancelScope()
        record.oom = scope
        self.group.start_soon(self._relay_ooms, record.id, watch, scope)

    def _open_oom_watch(self, container_id: str) -> OomWatch | None:
        from shim.runtime.container import Container

        try:
            with Container.open(self.store, container_id) as container:
                manager = container.manager()
                if manager.mode != "v2" and "memory" not in manager.paths:
                    return None  # no memory controller: nothing can report an OOM
                return manager.oom_watch()
        except Exception as err:
            get_logger().warning(f"no OOM events: {err}", id=container_id)
            return None

    async def _relay_ooms(
        self, container_id: str, watch: OomWatch, scope: anyio.CancelScope
    ) -> None:
        with scope:
            await relay_ooms(container_id, watch, self.bus)


def own_pid_namespace(spec: Spec) -> bool:
    linux = spec.linux
    return linux is not None and any(ns.type == "pid" and not ns.path for ns in linux.namespaces)
