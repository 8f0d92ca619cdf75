"""What the runtime needs from its process's one reaper, and the handles it gets back.

The runtime starts children (the init helper, hooks) but never waits on them with
`waitpid`: whoever owns the process (the CLI, the supervisor) owns the one reaper
(`shim.supervisor.reaper.Reaper`) and passes it in. A child is adopted (pid + pidfd)
before anything could reap it; its status is collected once, stamped with the time
of reaping, and kept on the `Child` for every later reader.

Waits are sync here (a worker thread or a one-shot CLI command runs them) and take a
deadline and a `CancelToken` (shim.cancel), so an async caller can end them.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from typing import Protocol

    from shim.cancel import CancelToken

    class ChildReaper(Protocol):
        """The process's one reaper, as the runtime uses it."""

        def hold(self) -> AbstractContextManager[None]:
            """While held, no orphan is reaped: a child not adopted yet keeps its status."""

        def acquire_hold(self) -> None: ...

        def release_hold(self) -> None: ...

        def adopt(self, pid: int, pidfd: int = -1) -> Child:
            """Take ownership of a child of ours (call while holding)."""

        def collect(self, child: Child) -> Exit | None:
            """Its exit if it has exited (reaped now, or earlier), else None; never blocks."""

        def wait(
            self, child: Child, deadline: float | None = None, cancel: CancelToken | None = None
        ) -> Exit:
            """Block until it exits. Raises TimedOut or Cancelled."""

        def release(self, child: Child) -> None:
            """Forget a child (its pidfd closed); unreaped, it becomes an orphan."""


class Exit:
    """How a process ended: `status` is its exit code, or 128+N when signal N killed it
    (the shell's convention, and containerd's); `exited_at` is when it was reaped, in ns
    since the epoch."""

    __slots__ = ("exited_at", "pid", "status")

    def __init__(self, pid: int, status: int, exited_at: int) -> None:
        self.pid = pid
        self.status = status
        self.exited_at = exited_at

    @classmethod
    def of_waitid(cls, pid: int, code: int, status: int, exited_at: int) -> Exit:
        """From a waitid result's si_code/si_status."""
        return cls(pid, status if code == os.CLD_EXITED else 128 + status, exited_at)

    @property
    def signal(self) -> int:
        """The signal that killed it, or 0."""
        return self.status - 128 if self.status > 128 else 0

    def __repr__(self) -> str:
        return f"Exit(pid={self.pid}, status={self.status}, exited_at={self.exited_at})"


class Child:
    """A child process of ours: its pid, a pidfd that pins it, its start time (field 22
    of /proc/PID/stat, which with the pid names it for good), and its exit once reaped."""

    __slots__ = ("exit", "pid", "pidfd", "start_time")

    def __init__(self, pid: int, pidfd: int, start_time: int = 0) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.start_time = start_time
        self.exit: Exit | None = None

    def __repr__(self) -> str:
        return f"Child(pid={self.pid}, exit={self.exit!r})"
