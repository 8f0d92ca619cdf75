"""Raw file descriptors under anyio: non-blocking mode, what epoll can watch, closing.

A pump waits with `anyio.wait_readable`/`wait_writable` on raw fds. That needs the
fd in O_NONBLOCK mode (a blocking write to a pipe that poll called writable can
still block when the data is bigger than the free room) and an fd that epoll
accepts: regular files and /dev/null are refused (EPERM), but they never make a
reader or writer wait either, so for them we simply do not wait.
"""

from __future__ import annotations

import os
import select
import stat

import anyio


def set_nonblocking(fd: int, on: bool = True) -> None:
    """Set or clear O_NONBLOCK. It belongs to the open file description: only on fds we own."""
    os.set_blocking(fd, not on)


def is_pollable(fd: int) -> bool:
    """True when epoll can watch `fd` (pipes, fifos, sockets, ttys); False for regular files."""
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return False
    probe = select.epoll(1)
    try:
        probe.register(fd, select.EPOLLIN)
    except PermissionError:  # the file has no poll method (/dev/null, /dev/zero...)
        return False
    finally:
        probe.close()
    return True


def is_pipe(fd: int) -> bool:
    """True for a pipe or a fifo: one end of a splice(2) must be one."""
    return stat.S_ISFIFO(os.fstat(fd).st_mode)


def is_append(fd: int) -> bool:
    """O_APPEND set: splice(2) refuses such a destination (EINVAL)."""
    import fcntl

    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND)


def ready_now(fd: int) -> bool:
    """Would a read on `fd` not block right now (data, end of file or an error)?"""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def close_fd(fd: int) -> None:
    """Close an fd an event loop may have watched: tell the loop first (anyio.notify_closing).

    Must run inside the event loop's thread; outside any loop it is a plain close.
    """
    try:
        anyio.notify_closing(fd)
    except anyio.NoEventLoopError:  # a sync caller: no loop can be watching it
        pass
    os.close(fd)
