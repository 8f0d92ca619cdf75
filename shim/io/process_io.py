"""One process's stdio as containerd asks for it (Create and Exec: stdin, stdout, stderr, terminal).

What each string means (spec/containerd-shim-v2.md section 9):

    ""                     that stream is not wired; all three "": /dev/null for everything
    /abs/path, a fifo      containerd's fifo: OutputFifo / InputFifo (fifos.py)
    /abs/path, not a fifo  a file, appended to (no create), as the runc shim does
    file:///abs/path       a log file, appended to, created if missing; stdout == stderr share it
    binary:///path?args    a logging program reading the process's stdout and stderr pipes
                           itself (binary_logger.py): stdout == stderr, nothing pumped

Without a terminal the process gets pipes (pipes.py) and one pump per stream
moves bytes between them and containerd's ends. With `terminal`, the process's
stdio is the pty the helper makes; once its master has come back over the
console socket, `attach_console` pumps stdin -> master and master -> stdout.

Lifecycle, in the shim:

    pio = ProcessIO(Stdio(...))           opens everything, never blocks
    spawn with pio.child_stdio            then pio.spawned()
    pio.start(tg)                         pumps run in the caller's task group
    pio.attach_console(tg, master)        terminal only
    pio.close_stdin() / pio.resize(w, h)  CloseIO / ResizePty
    await pio.finish()                    after the exit: drain the outputs (2 s), close all
"""

from __future__ import annotations

import os
import urllib.parse
from typing import NamedTuple

from anyio.abc import TaskGroup

from shim.errors import InvalidArgument, Unsupported
from shim.io.fds import close_fd
from shim.io.fifos import InputFifo, OutputFifo, is_fifo
from shim.io.files import open_append
from shim.io.pipes import StdioPipes
from shim.io.pty import resize
from shim.io.pump import Pump
from shim.io.pump_core import Event

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.io.binary_logger import BinaryLogger

DRAIN_GRACE = 2.0  # the runc shim's Delete waits this long for output copies


class Stdio(NamedTuple):
    """CreateTaskRequest / ExecProcessRequest fields 4-7 (or 3-6)."""

    stdin: str = ""
    stdout: str = ""
    stderr: str = ""
    terminal: bool = False

    @property
    def is_null(self) -> bool:
        return not (self.stdin or self.stdout or self.stderr)


def _file_path(uri: str) -> tuple[str, bool] | None:
    """(path, is a file:// URI) of an output; None for "" or a fifo. Raises for other schemes."""
    if not uri:
        return None
    scheme, sep, _ = uri.partition("://")
    if not sep:
        return None if is_fifo(uri) else (uri, False)
    if scheme == "file":
        return urllib.parse.unquote(urllib.parse.urlsplit(uri).path), True
    if scheme == "binary":  # without a terminal, _open_logger takes it
        raise Unsupported(f"stdio {uri}: a binary:// logger with a terminal is not supported")
    raise InvalidArgument(f"unknown STDIO scheme {scheme}")


class ProcessIO:
    """The fifos, files, pipes, pty master and pumps of one process's stdio."""

    def __init__(
        self,
        stdio: Stdio,
        *,
        owner: tuple[int, int] | None = None,
        logger_env: dict[str, str] | None = None,
    ) -> None:
        """Open what containerd handed over and make the child's ends; nothing blocks.

        `owner`: containerd's io_uid/io_gid for the child's pipe ends. `logger_env`: the
        environment of a binary:// logger (CONTAINER_ID, CONTAINER_NAMESPACE). Raises
        ShimError (a fifo or file that cannot be opened, an unknown scheme) or
        Unsupported; nothing stays open then.
        """
        self.stdio = stdio
        self.master = -1
        self.pumps: list[Pump] = []
        self._stdin: InputFifo | None = None
        self._outs: list[OutputFifo] = []
        self._files: dict[str, int] = {}
        self._sinks: list[int] = [-1, -1]  # where stdout and stderr go
        self._pipes: StdioPipes | None = None
        self._devnull = -1
        self.logger: BinaryLogger | None = None
        self._logger_env = logger_env or {}
        try:
            self._open(owner)
        except BaseException:
            self.close()
            raise

    def _open(self, owner: tuple[int, int] | None) -> None:
        std = self.stdio
        if std.stdout.startswith("binary://") and not std.terminal:
            self._open_logger(owner)
            return
        for i, uri in enumerate((std.stdout, "" if std.terminal else std.stderr)):
            target = _file_path(uri)
            if target is None and uri:
                self._outs.append(OutputFifo(uri, ("stdout", "stderr")[i]))
                self._sinks[i] = self._outs[-1].fd
            elif target is not None:
                path, create = target
                if path not in self._files:
                    self._files[path] = open_append(path, create=create)
                self._sinks[i] = self._files[path]
        if std.stdin:
            self._stdin = InputFifo(std.stdin)
        if not std.terminal and not std.is_null:
            self._pipes = StdioPipes(
                stdin=bool(std.stdin), stdout=bool(std.stdout), stderr=bool(std.stderr), owner=owner
            )
        else:
            self._devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)

    def _open_logger(self, owner: tuple[int, int] | None) -> None:
        """binary://: pipes for stdout and stderr, their read ends given to the logger."""
        from shim.io.binary_logger import BinaryLogger

        std = self.stdio
        if std.stderr and std.stderr != std.stdout:
            raise InvalidArgument(
                f"stdio: binary:// stdout needs the same stderr, not {std.stderr}"
            )
        if std.stdin:
            self._stdin = InputFifo(std.stdin)
        self._pipes = StdioPipes(stdin=bool(std.stdin), stdout=True, stderr=True, owner=owner)
        self.logger = BinaryLogger(
            std.stdout, self._pipes.take(1), self._pipes.take(2), self._logger_env
        )

    async def ready(self) -> None:
        """A binary:// logger has said it is ready (the runc shim waits for it in Create)."""
        if self.logger is not None:
            await self.logger.ready()

    @property
    def child_stdio(self) -> tuple[int, int, int]:
        """The fds for the child's 0, 1, 2 (close-on-exec here: the spawner dup2s them)."""
        if self._pipes is not None:
            return self._pipes.child
        return (self._devnull, self._devnull, self._devnull)

    def spawned(self) -> None:
        """The child has its ends: drop our copies (else the outputs never reach EOF)."""
        if self._pipes is not None:
            self._pipes.close_child_ends()
        if self._devnull >= 0:
            os.close(self._devnull)
            self._devnull = -1

    def start(self, tg: TaskGroup) -> None:
        """Start the pumps between the pipes and containerd's ends (not for a terminal)."""
        pipes = self._pipes
        if pipes is None:
            return
        if self._stdin is not None and pipes.stdin >= 0:
            self._spawn(tg, Pump(self._stdin.take(), pipes.take(0), name="stdin"))
        if self.logger is not None:
            return  # the logger reads the outputs itself
        for i, name in ((1, "stdout"), (2, "stderr")):
            sink = self._sinks[i - 1]
            if sink < 0:  # "": no pipe was made, the child has /dev/null
                continue
            fifo = self._fifo_writer(sink)
            sink = fifo.take() if fifo is not None else sink  # a fifo's writer: EOF for containerd
            self._spawn(tg, Pump(pipes.take(i), sink, name=name, close_sinks=fifo is not None))

    def _fifo_writer(self, fd: int) -> OutputFifo | None:
        return next((o for o in self._outs if o.fd == fd), None)

    def attach_console(self, tg: TaskGroup, master: int) -> None:
        """Terminal: take the pty master and pump stdin -> master, master -> stdout."""
        self.master = master
        out = None
        sink = self._sinks[0]
        if sink >= 0:
            fifo = self._fifo_writer(sink)
            sink = fifo.take() if fifo is not None else sink
            out = Pump(master, sink, name="console", close_source=False, close_sinks=bool(fifo))
            self._spawn(tg, out)
        if self._stdin is not None:
            stdin = Pump(self._stdin.take(), master, name="stdin", close_sinks=False)
            self.pumps.append(stdin)
            tg.start_soon(self._console_stdin, stdin, out, name="stdin")

    async def _console_stdin(self, stdin: Pump, out: Pump | None) -> None:
        await stdin.run()
        if stdin.reason is not Event.EOF:
            return
        # The runc shim shuts the console down when stdin ends (after CloseIO): what the
        # pty already holds is still delivered, then the master closes (the process
        # reads EIO, or gets SIGHUP if it is its controlling terminal).
        if out is not None:
            await out.finish(DRAIN_GRACE)
        if self.master >= 0:
            fd, self.master = self.master, -1
            close_fd(fd)

    def _spawn(self, tg: TaskGroup, pump: Pump) -> None:
        self.pumps.append(pump)
        tg.start_soon(pump.run, name=pump.name)

    def close_stdin(self) -> None:
        """CloseIO(stdin): drop our keep-alive writer; the client's close then gives EOF."""
        if self._stdin is not None:
            self._stdin.close_keepalive()
        elif self._pipes is not None:
            self._pipes.close_stdin()

    def resize(self, width: int, height: int) -> None:
        """ResizePty: a no-op without a pty (as the runc shim). Raises ShimError."""
        if self.master >= 0:
            resize(self.master, width, height)

    async def finish(self, grace: float = DRAIN_GRACE) -> bool:
        """After the exit: drain the outputs for up to `grace` s, stop stdin, close all.

        True if every output was copied to its end.
        """
        import anyio

        outputs = [p for p in self.pumps if p.name != "stdin"]
        results: list[bool] = []

        async def drain(pump: Pump) -> None:
            results.append(await pump.finish(grace))

        async with anyio.create_task_group() as tg:
            for pump in outputs:
                tg.start_soon(drain, pump)
        for pump in self.pumps:
            pump.stop()
            await pump.wait()
        self.close()
        return all(results)

    def close(self) -> None:
        """Close everything still ours. Pumps must have ended (see `finish`)."""
        if any(not p.closed for p in self.pumps):
            raise RuntimeError("stdio: pumps still running; await finish() first")
        if self._stdin is not None:
            self._stdin.close()
        for out in self._outs:
            out.close()
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()
        if self._pipes is not None:
            self._pipes.close()
        if self.master >= 0:
            fd, self.master = self.master, -1
            close_fd(fd)
        if self._devnull >= 0:
            os.close(self._devnull)
            self._devnull = -1
        if self.logger is not None:
            self.logger.close()
