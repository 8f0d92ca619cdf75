"""Ending a blocking wait from outside: deadlines and cancel tokens for sync code.

The runtime's long waits (the init helper's messages, the exec fifo, a hook, a process
going away) are sync so that one-shot CLI commands need no event loop. An async caller
runs them in a worker thread with a `CancelToken`; when its task is cancelled it
`trigger()`s the token, every wait that polls the token's fd raises `Cancelled`, and the
operation undoes what it made before the thread returns.
"""

from __future__ import annotations

import os
import select
import time

from shim.errors import Cancelled, Internal, TimedOut


class CancelToken:
    """A pipe whose read end becomes readable once the caller gives up."""

    __slots__ = ("_r", "_w")

    def __init__(self) -> None:
        self._r, self._w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)

    def fileno(self) -> int:
        return self._r

    def trigger(self) -> None:
        """Safe from any thread, and more than once."""
        try:
            os.write(self._w, b"x")
        except (BlockingIOError, OSError):
            pass  # already triggered (pipe full) or closed

    @property
    def cancelled(self) -> bool:
        return bool(select.select([self._r], [], [], 0)[0])

    def check(self, what: str) -> None:
        if self.cancelled:
            raise Cancelled(f"{what}: cancelled")

    def close(self) -> None:
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._r = self._w = -1


def wait_readable(
    fds: list[int],
    deadline: float | None,
    cancel: CancelToken | None,
    what: str,
) -> set[int]:
    """Block until one of `fds` is readable (or hung up); the ready ones.

    `deadline` is a time.monotonic() value (None: no limit). Raises TimedOut or
    Cancelled, naming `what`.
    """
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    if cancel is not None:
        poller.register(cancel.fileno(), select.POLLIN)
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic()) * 1000
        events = poller.poll(timeout)
        closed = [fd for fd, ev in events if ev & select.POLLNVAL]
        if closed:  # a double close somewhere: never read it as a cancel or as data
            raise Internal(f"{what}: fd {closed[0]} was closed under the wait")
        ready = {fd for fd, _ in events}
        if cancel is not None and cancel.fileno() in ready:
            raise Cancelled(f"{what}: cancelled")
        if ready:
            return ready
        if deadline is not None and time.monotonic() >= deadline:
            raise TimedOut(f"{what}: timed out")
