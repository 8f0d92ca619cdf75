"""A process's stdio while the supervisor makes it: what it may be, the child's fds (or a
console socket for a terminal) before, the pumps and the pty master after."""

from __future__ import annotations

import os

import anyio

from shim.io.process_io import ProcessIO, Stdio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeAlias

    from anyio.abc import TaskGroup

    from shim.supervisor.process import ProcessHandle

    # What a process's stdio may be: nothing (/dev/null), three fds, containerd's
    # strings (fifos, file:// and binary:// URIs, "" for none, and a terminal flag), or
    # a ProcessIO the caller opened from them (its own for a binary:// logger's env).
    StdioSpec: TypeAlias = tuple[int, int, int] | Stdio | ProcessIO | None


class StdioSetup:
    """A process's stdio while it is being made: the child's fds (or a console socket for
    a terminal) before, the pumps and the pty master after."""

    def __init__(self, stdio: StdioSpec, terminal: bool) -> None:
        self.io: ProcessIO | None = None
        self.child_stdio: tuple[int, int, int] | None = None
        self.console_ours = -1
        self.console_theirs: int | None = None
        if isinstance(stdio, Stdio):
            self.io = ProcessIO(stdio._replace(terminal=terminal))
            self.child_stdio = self.io.child_stdio
        elif isinstance(stdio, ProcessIO):
            self.io = stdio
            self.child_stdio = self.io.child_stdio
        elif stdio is not None:
            self.child_stdio = stdio
        if terminal:
            from shim.io.console import socket_pair

            self.console_ours, self.console_theirs = socket_pair()
            self.child_stdio = None  # the pty replaces them

    def __enter__(self) -> StdioSetup:
        return self

    async def ready(self) -> None:
        """A binary:// logger is ready to read (before the process can write)."""
        if self.io is not None:
            await self.io.ready()

    async def attach(self, tg: TaskGroup, handle: ProcessHandle) -> None:
        """The process exists: start the pumps; with a terminal, take the pty master."""
        self._close_theirs()
        if self.io is not None:
            self.io.spawned()
            self.io.start(tg)
            handle.io, io = self.io, self.io
            self.io = None
        else:
            io = None
        if self.console_ours >= 0:
            from shim.io.console import receive_master

            ours, self.console_ours = self.console_ours, -1
            with anyio.fail_after(10):
                master = await receive_master(ours)
            if io is not None:
                io.attach_console(tg, master)
            else:
                handle.master = master

    def _close_theirs(self) -> None:
        if self.console_theirs is not None:
            os.close(self.console_theirs)
            self.console_theirs = None

    def __exit__(self, *exc: object) -> None:
        self._close_theirs()
        if self.console_ours >= 0:
            os.close(self.console_ours)
            self.console_ours = -1
        if self.io is not None:  # never attached: the process was not made
            self.io.spawned()
            self.io.close()
            self.io = None


def stdio_strings(handle: ProcessHandle) -> Stdio:
    return handle.io.stdio if handle.io is not None else Stdio(terminal=handle.terminal)


def dup_fd(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)


def fds_of(stdio: StdioSpec) -> tuple[int, int, int] | None:
    """Three fds, not containerd's strings (Stdio is a tuple too)."""
    if stdio is None or isinstance(stdio, (Stdio, ProcessIO)):
        return None
    return stdio


def close_copies(stdio: StdioSpec) -> None:
    """The fds create-from-checkpoint copied, once the restore is done."""
    for fd in set(fds_of(stdio) or ()):
        os.close(fd)
