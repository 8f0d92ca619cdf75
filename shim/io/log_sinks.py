"""containerd's `log` fifo as the shim's log sink: written without ever blocking.

containerd makes `<bundle>/log`, opens it O_RDWR|O_NONBLOCK itself, and copies
what arrives into its own log. The runc shim dup2s it onto stderr. While
containerd is down nobody reads it: a blocking write would stall the whole shim
once the fifo's 64 KiB fill. So the fd is O_NONBLOCK and a record that does not
fit is dropped and counted, never waited for.

A record is written whole or not at all when it fits the free room (pipe writes
of up to PIPE_BUF bytes are atomic anyway; a longer one is checked against
FIONREAD first). Only a race with another writer can still cut one: its tail is
dropped and `torn` counts it.

shim.logs.Logger already drops on EAGAIN (its writes ignore OSError): dup2 a
DroppingWriter's fd onto 2 (the dup shares O_NONBLOCK) and set the Logger up on
stderr; use `write` directly where the counters matter.
"""

from __future__ import annotations

import array
import errno
import fcntl
import os
import termios

from shim.errors import InvalidArgument

PIPE_BUF = 4096  # writes up to this size are atomic on a pipe (Linux)


def _pipe_room(fd: int) -> int | None:
    """Free bytes in the pipe behind `fd`, or None when it is not a pipe."""
    try:
        size = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
        used = array.array("i", [0])
        fcntl.ioctl(fd, termios.FIONREAD, used, True)
    except OSError:
        return None
    return size - used[0]


class DroppingWriter:
    """Writes records to a pipe or fifo without blocking; what does not fit is dropped.

    Counters: `written` bytes, `dropped` records and `dropped_bytes`, `torn` records
    whose tail was dropped.
    """

    __slots__ = ("_fd", "dropped", "dropped_bytes", "torn", "written")

    def __init__(self, fd: int) -> None:
        """Takes ownership of `fd` and switches it to O_NONBLOCK."""
        os.set_blocking(fd, False)
        self._fd = fd
        self.written = self.dropped = self.dropped_bytes = self.torn = 0

    def fileno(self) -> int:
        return self._fd

    def write(self, record: bytes) -> bool:
        """Write `record` whole if it fits now; else drop it. True if it was written whole."""
        if self._fd < 0:
            raise ValueError("write to a closed log sink")
        if len(record) > PIPE_BUF:
            room = _pipe_room(self._fd)
            if room is not None and room < len(record):
                return self._drop(len(record))
        view = memoryview(record)
        while view:
            try:
                n = os.write(self._fd, view)
            except (BlockingIOError, BrokenPipeError):  # full, or nobody reads any more
                if len(view) < len(record):
                    self.torn += 1
                return self._drop(len(view))
            self.written += n
            view = view[n:]
        return True

    def _drop(self, size: int) -> bool:
        self.dropped += 1
        self.dropped_bytes += size
        return False

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)


def open_log_fifo(path: str) -> DroppingWriter:
    """Open containerd's `log` fifo for writing without blocking.

    O_WRONLY|O_NONBLOCK needs a reader (containerd holds one); without one (ENXIO)
    the fifo is opened O_RDWR, so that records wait in it for a reader to come back
    rather than being refused. Raises ShimError `open log fifo PATH: <reason>`.
    """
    base = os.O_NONBLOCK | os.O_CLOEXEC
    try:
        try:
            fd = os.open(path, os.O_WRONLY | base)
        except OSError as err:
            if err.errno != errno.ENXIO:  # no reader yet
                raise
            fd = os.open(path, os.O_RDWR | base)
    except OSError as err:
        reason = os.strerror(err.errno).lower() if err.errno else str(err)
        raise InvalidArgument(f"open log fifo {path}: {reason}") from err
    return DroppingWriter(fd)
