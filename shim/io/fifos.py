"""containerd's stdio fifos, opened the way containerd-shim-runc-v2 opens them, never blocking.

open(2) on a fifo blocks until the other side exists: O_RDONLY until a writer
opens it, O_WRONLY until a reader does. containerd opens its ends in the
background (github.com/containerd/fifo), so either side may come first, and the
shim must not block its loop waiting. The runc shim's discipline
(pkg/process/io.go, init.go), done here with O_NONBLOCK opens:

* output (stdout, stderr): a reader first, O_RDONLY|O_NONBLOCK (never blocks),
  then the writer O_WRONLY|O_NONBLOCK (succeeds: our reader exists). We keep
  both. With our reader held, a client that detaches and reattaches never makes
  a write fail with EPIPE: data waits in the fifo, then the pump waits
  (backpressure on the process). Closing our writer gives the client end of file.
  Caveat, as with runc: bytes still in the fifo when we close both ends are lost
  if no client reader has it open by then.
* input (stdin): the reader O_RDONLY|O_NONBLOCK, then a keep-alive writer
  O_WRONLY|O_NONBLOCK. A non-blocking read of a fifo without writers returns 0,
  which would read as end of file before the client has even opened its end, or
  while it reattaches; our writer rules that out until CloseIO drops it
  (`close_keepalive`). From then on the client's close is end of file (at once
  if it has already closed).

All fds are O_CLOEXEC and stay O_NONBLOCK (they are ours alone).
"""

from __future__ import annotations

import os
import stat

from shim.errors import InvalidArgument
from shim.io.fds import close_fd

_RD = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
_WR = os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC


def is_fifo(path: str) -> bool:
    """True when `path` names a fifo (False when it is missing or something else)."""
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def _open(path: str, flags: int, what: str) -> int:
    try:
        return os.open(path, flags)
    except OSError as err:  # the runc shim: `opening w/o fifo "<path>" failed: <reason>`
        reason = os.strerror(err.errno).lower() if err.errno else str(err)
        raise InvalidArgument(f"open {what} fifo {path}: {reason}") from err


class OutputFifo:
    """A stdout/stderr fifo: `fd` is the writer a pump writes to; a reader is held too."""

    __slots__ = ("_keep_reader", "fd", "path")

    def __init__(self, path: str, what: str = "stdout") -> None:
        """Open without blocking. Raises ShimError `open stdout fifo PATH: <reason>`."""
        self.path = path
        self._keep_reader = _open(path, _RD, what)
        try:
            self.fd = _open(path, _WR, what)
        except BaseException:
            os.close(self._keep_reader)
            raise

    def take(self) -> int:
        """Hand the writer to a pump that closes it at end of file (EOF for the client)."""
        fd, self.fd = self.fd, -1
        return fd

    def close(self) -> None:
        """Close the writer (if still ours) and the reader we held."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            close_fd(fd)
        if self._keep_reader >= 0:
            fd, self._keep_reader = self._keep_reader, -1
            os.close(fd)  # never waited on


class InputFifo:
    """A stdin fifo: `fd` is the reader a pump reads from; a keep-alive writer is held."""

    __slots__ = ("_keepalive", "fd", "path")

    def __init__(self, path: str) -> None:
        """Open without blocking. Raises ShimError `open stdin fifo PATH: <reason>`.

        A path that is not a fifo (a file) is read as it is, with no keep-alive writer.
        """
        self.path = path
        self.fd = _open(path, _RD, "stdin")
        self._keepalive = -1
        if stat.S_ISFIFO(os.fstat(self.fd).st_mode):
            try:
                self._keepalive = _open(path, _WR, "stdin")
            except BaseException:
                os.close(self.fd)
                raise

    @property
    def keepalive_open(self) -> bool:
        return self._keepalive >= 0

    def take(self) -> int:
        """Hand the reader to a pump that closes it at end of file."""
        fd, self.fd = self.fd, -1
        return fd

    def close_keepalive(self) -> None:
        """CloseIO(stdin): from now on the client's close is end of file for the reader."""
        if self._keepalive >= 0:
            fd, self._keepalive = self._keepalive, -1
            os.close(fd)  # never waited on

    def close(self) -> None:
        self.close_keepalive()
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            close_fd(fd)
