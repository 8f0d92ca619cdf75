"""Handles on the processes the supervisor runs: a container's init, or an exec'd process.

A handle holds the process once it exists (pid, a pidfd opened before the call that
made it returned, its start time), its stdio, and its exit once reaped; `wait()`
returns that exit to any number of waiters, before or after the exit.
"""

from __future__ import annotations

import anyio
import msgspec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.children import Child, Exit
    from shim.io.process_io import ProcessIO

CREATED, RUNNING, STOPPED = "created", "running", "stopped"


class ProcessState(msgspec.Struct, frozen=True):
    """One process as containerd's State RPC describes it; `exited_at` in ns since the
    epoch (0 while it runs), `status` one of created, running, paused, stopped."""

    id: str
    exec_id: str
    pid: int
    status: str
    exit_status: int
    exited_at: int
    bundle: str
    terminal: bool
    stdin: str = ""
    stdout: str = ""
    stderr: str = ""


class ContainerStats(msgspec.Struct, frozen=True):
    """A container's cgroup statistics: `data` in runc's `events --stats` shape, and the
    cgroup manager's `mode` ("v1", "v2" or "hybrid") with its paths."""

    mode: str
    cgroup_paths: dict[str, str]
    data: dict[str, object]


class ProcessHandle:
    """One process of a container. `exec_id` is "" for the init."""

    def __init__(self, container_id: str, exec_id: str, *, terminal: bool = False) -> None:
        self.container_id = container_id
        self.exec_id = exec_id
        self.terminal = terminal
        self.child: Child | None = None
        self.io: ProcessIO | None = None
        self.master = -1  # the pty master, with a terminal and no ProcessIO to pump it
        self.started = False  # the user process runs (init released, exec'd process exec'd)
        self.exit: Exit | None = None  # published: the Exited event went out
        self._exited = anyio.Event()
        self._settled = anyio.Event()  # no start in progress: an exit may be published
        self._settled.set()

    @property
    def pid(self) -> int:
        return self.child.pid if self.child is not None else 0

    @property
    def pidfd(self) -> int:
        return self.child.pidfd if self.child is not None else -1

    @property
    def start_time(self) -> int:
        return self.child.start_time if self.child is not None else 0

    @property
    def status(self) -> str:
        if self.exit is not None or (self.child is not None and self.child.exit is not None):
            return STOPPED
        if self.child is None or not self.started:
            return CREATED
        return RUNNING

    async def wait(self) -> Exit:
        """The process's exit, once it has been reaped and announced."""
        await self._exited.wait()
        assert self.exit is not None
        return self.exit

    # -- for the supervisor ----------------------------------------------------------

    def starting(self) -> None:
        """A start is in progress: an exit now is announced only after it (Started first)."""
        self._settled = anyio.Event()

    def start_settled(self) -> None:
        self._settled.set()

    async def settled(self) -> None:
        await self._settled.wait()

    def announce_exit(self, exit_: Exit) -> None:
        self.exit = exit_
        self._exited.set()

    @property
    def exited(self) -> bool:
        return self._exited.is_set()
