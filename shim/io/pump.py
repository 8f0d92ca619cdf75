"""A copy pump: an anyio task that moves bytes from one fd to one or more fds.

One sink, and pipes/fifos/files the kernel can splice (a pipe on at least one
side, the other a pipe or a regular file not opened O_APPEND): splice(2) moves
the pages inside the kernel and nothing passes through Python. Otherwise (fan-out,
ttys, sockets, append-only logs, or EINVAL from a kernel that will not): read(2)
into one buffer of `buffer_size`, write(2) it to every sink, and read again only
once every sink has all of it (`pump_core.Fanout`). Either way backpressure is
the kernel's: while a sink is full we wait on it and read nothing, the source
pipe fills, and the writing process blocks. Nothing is ever buffered beyond one
buffer.

End of file propagates: when the source ends, the pump closes the fds it owns
(`close_source`, `close_sinks`; the default is to own both), so the next reader
sees end of file in turn. A sink whose reader is gone (EPIPE) is dropped; with
none left, the pump ends and closes its source, so the writer gets EPIPE too.

The process exiting does not end its output: its bytes may still sit in the pipe,
and a grandchild may keep the write end open, so end of file may never come.
`finish(timeout)` drains: copy until the source is empty (or ends), then stop.

Pumps wait with anyio.wait_readable/wait_writable, so they run on asyncio and
trio. Pollable fds are switched to O_NONBLOCK: hand a pump only fds you own (two
pumps that share a sink need a dup each, as anyio lets one task wait per fd).
`drain`, `stop`, `run`, `wait` and `finish` belong to the event loop's thread.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence

import anyio
import anyio.lowlevel

from shim.io.fds import close_fd, is_append, is_pollable, ready_now, set_nonblocking
from shim.io.pump_core import Event, Fanout, Lifecycle, State

DEFAULT_BUFFER = 64 << 10  # the default pipe capacity: one pipe's worth per read
SPLICE_CHUNK = 1 << 20  # a splice moves at most what the pipe holds; this only caps it
_YIELD_EVERY = 4 << 20  # bytes moved without waiting before other tasks get a turn
_NO_SPLICE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP})


class Pump:
    """Copies `source` to `sinks` until end of file, `drain`ed empty, `stop`ped or cancelled.

    Counters: `bytes_copied` (delivered to every live sink), `max_held` (the most
    bytes it ever held in memory; 0 when splicing), `method` ("splice" or "copy",
    known once running), `reason` (why it ended), `error` (an unexpected OSError).
    """

    def __init__(
        self,
        source: int,
        sinks: int | Sequence[int],
        *,
        name: str = "",
        buffer_size: int = DEFAULT_BUFFER,
        close_source: bool = True,
        close_sinks: bool = True,
        splice: bool = True,
    ) -> None:
        if buffer_size <= 0:
            raise ValueError("pump: buffer_size must be positive")
        self.source = source
        self.sinks: tuple[int, ...] = (sinks,) if isinstance(sinks, int) else tuple(sinks)
        self.name = name or f"fd {source}"
        self.buffer_size = buffer_size
        self.close_source, self.close_sinks = close_source, close_sinks
        self.bytes_copied = 0
        self.max_held = 0
        self.method = ""
        self.error: OSError | None = None
        self._lifecycle = Lifecycle()
        self._want_splice = splice
        self._pollable: dict[int, bool] = {}
        self._interrupt: anyio.CancelScope | None = None
        self._waiting_on_source = False
        self._finished: anyio.Event | None = None
        self._started = self._closed = False
        self._since_yield = 0

    @property
    def state(self) -> State:
        return self._lifecycle.state

    @property
    def reason(self) -> Event | None:
        return self._lifecycle.reason

    @property
    def waiting_for(self) -> str:
        """What it waits on: "source", "sink" (a full sink: backpressure), or "" if nothing."""
        if self._interrupt is None:
            return ""
        return "source" if self._waiting_on_source else "sink"

    @property
    def closed(self) -> bool:
        """run() has ended and closed what it owns."""
        return self._closed

    def drain(self) -> None:
        """The source's writers are gone: copy what it still holds, then end."""
        if self._lifecycle.fire(Event.DRAIN) is State.DRAINING and self._waiting_on_source:
            self._cancel_wait()

    def stop(self) -> None:
        """End now, dropping whatever is in flight; what it owns is closed (by run(), or
        here if run() never started)."""
        self._lifecycle.fire(Event.STOP)
        self._cancel_wait()
        if not self._started:
            self._close()

    async def wait(self) -> None:
        """Until run() has ended and closed its fds."""
        if not self._closed:
            await self._event().wait()

    async def finish(self, grace: float | None = None) -> bool:
        """drain(), wait up to `grace` seconds, then stop(). True if nothing was left behind.

        With no `grace` it waits for as long as the drain takes (run() must be running)."""
        self.drain()
        with anyio.move_on_after(grace):
            await self.wait()
        if not self._closed:
            self.stop()
            await self.wait()
        return self.reason in (Event.EOF, Event.EMPTY)

    async def run(self) -> None:
        """Copy until the pump ends, then close the fds it owns. Never raises an OSError of
        the copy (it ends the pump: see `reason` and `error`); cancellation propagates."""
        self._started = True
        try:
            if not self._lifecycle.done:
                self._prepare()
                if self.method == "splice":
                    await self._splice()
                if self.method == "copy":
                    await self._copy()
        except anyio.get_cancelled_exc_class():
            self._lifecycle.fire(Event.CANCELLED)
            raise
        except OSError as err:
            self._fail(err)
        finally:
            self._close()

    # -- the two ways to copy -------------------------------------------------------------

    async def _splice(self) -> None:
        src, dst = self.source, self.sinks[0]
        flags = os.SPLICE_F_NONBLOCK | os.SPLICE_F_MOVE
        while not self._lifecycle.done:
            try:
                n = os.splice(src, dst, SPLICE_CHUNK, flags=flags)
            except BlockingIOError:
                if self._pollable[src] and not ready_now(src):
                    await self._source_empty()
                else:  # the source has bytes: the sink is full
                    await self._wait(dst, readable=False)
                continue
            except OSError as err:
                if err.errno in _NO_SPLICE:
                    self.method = "copy"  # the kernel will not: carry on with read/write
                    return
                self._sink_failed(dst, err)
                return
            if n == 0:
                self._lifecycle.fire(Event.EOF)
                return
            self.bytes_copied += n
            await self._maybe_yield(n)

    async def _copy(self) -> None:
        fanout = Fanout(self.sinks)
        size = 0
        while not self._lifecycle.done:
            if fanout.idle:
                chunk = self._read()
                if chunk is None:
                    await self._source_empty()
                    continue
                if not chunk:
                    self._lifecycle.fire(Event.EOF)
                    return
                fanout.load(chunk)
                size = len(chunk)
                self.max_held = max(self.max_held, fanout.held)
            blocked = self._write_pending(fanout)
            if not fanout.sinks:
                self._lifecycle.fire(Event.SINKS_GONE)
                return
            if blocked >= 0:
                await self._wait(blocked, readable=False)
            elif fanout.idle:
                self.bytes_copied += size
                await self._maybe_yield(size)

    def _read(self) -> bytes | None:
        """A chunk; b"" at end of file; None when nothing is there yet."""
        try:
            return os.read(self.source, self.buffer_size)
        except BlockingIOError:
            return None
        except OSError as err:
            if err.errno == errno.EIO:  # a pty master once its slave side is all closed
                return b""
            raise

    def _write_pending(self, fanout: Fanout) -> int:
        """Write what each sink can take; return a sink that would block, or -1."""
        blocked = -1
        for sink, data in fanout.pending():
            while data:
                try:
                    n = os.write(sink, data)
                except BlockingIOError:
                    blocked = sink
                    break
                except OSError as err:
                    self._sink_failed(sink, err, fanout)
                    break
                fanout.wrote(sink, n)
                data = data[n:]
        return blocked

    # -- waiting, ending, closing ---------------------------------------------------------

    async def _source_empty(self) -> None:
        if self._lifecycle.fire(Event.EMPTY) is not State.DONE:
            await self._wait(self.source, readable=True)

    async def _wait(self, fd: int, readable: bool) -> None:
        """Wait for `fd` (not at all if epoll cannot watch it); drain/stop may cut it short."""
        self._since_yield = 0
        if not self._pollable[fd]:
            await anyio.lowlevel.checkpoint()
            return
        with anyio.CancelScope() as scope:
            self._interrupt, self._waiting_on_source = scope, readable
            try:
                if readable:
                    await anyio.wait_readable(fd)
                else:
                    await anyio.wait_writable(fd)
            finally:
                self._interrupt, self._waiting_on_source = None, False

    async def _maybe_yield(self, moved: int) -> None:
        # A source that never runs dry (a file, a fast writer) must not starve other tasks.
        self._since_yield += moved
        if self._since_yield >= _YIELD_EVERY:
            self._since_yield = 0
            await anyio.lowlevel.checkpoint()

    def _cancel_wait(self) -> None:
        if self._interrupt is not None:
            self._interrupt.cancel()

    def _sink_failed(self, sink: int, err: OSError, fanout: Fanout | None = None) -> None:
        if err.errno not in (errno.EPIPE, errno.ECONNRESET, errno.EIO):
            self._fail(err, f"copy {self.name} to fd {sink}")  # EPIPE: its reader left
        if fanout is None:
            self._lifecycle.fire(Event.SINKS_GONE)
        else:
            fanout.drop(sink)

    def _fail(self, err: OSError, what: str = "") -> None:
        """Record and log an unexpected error; it ends the pump unless only a sink had it."""
        from shim.logs import get_logger

        self.error = err
        get_logger().warning(f"{what or 'copy ' + self.name}: {err.strerror or err}")
        if not what:
            self._lifecycle.fire(Event.FAILED)

    def _prepare(self) -> None:
        for fd in (self.source, *self.sinks):
            if fd not in self._pollable:
                self._pollable[fd] = is_pollable(fd)
                if self._pollable[fd]:
                    set_nonblocking(fd)
        self.method = "splice" if self._can_splice() else "copy"

    def _can_splice(self) -> bool:
        if not self._want_splice or len(self.sinks) != 1:
            return False
        src, dst = os.fstat(self.source).st_mode, os.fstat(self.sinks[0]).st_mode
        if stat.S_ISFIFO(src):
            return stat.S_ISFIFO(dst) or (stat.S_ISREG(dst) and not is_append(self.sinks[0]))
        return stat.S_ISREG(src) and stat.S_ISFIFO(dst)

    def _event(self) -> anyio.Event:
        if self._finished is None:
            self._finished = anyio.Event()
        return self._finished

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._lifecycle.fire(Event.FAILED)  # a no-op unless something unforeseen ended run()
        owned = [self.source] if self.close_source else []
        owned += dict.fromkeys(self.sinks) if self.close_sinks else []
        for fd in owned:
            try:
                close_fd(fd)
            except OSError as err:  # EBADF: closed behind our back; keep the first error
                self.error = self.error or err
        if self._finished is not None:
            self._finished.set()
