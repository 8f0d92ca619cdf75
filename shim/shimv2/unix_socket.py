"""Unix stream sockets on anyio's fd waits: the ttrpc server's and client's transport.

Why not anyio's own socket streams: on asyncio they hand `Future.set_result` to the
selector, so a wakeup that lands after the waiting task was cancelled raises
InvalidStateError inside the loop (seen on every cancelled ttrpc reader here).
`anyio.wait_readable`/`wait_writable` tolerate that race, and the same code runs on
trio. Sockets are non-blocking and close-on-exec.
"""

from __future__ import annotations

import os
import socket

import anyio

READ_SIZE = 1 << 16


class UnixStream:
    """One connected stream socket. `receive` returns b"" at EOF."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._closed = False

    async def receive(self, max_bytes: int = READ_SIZE) -> bytes:
        """Raises OSError (ECONNRESET...), or anyio.ClosedResourceError after aclose."""
        while True:
            try:
                return self.sock.recv(max_bytes)
            except BlockingIOError:
                await anyio.wait_readable(self.sock)

    async def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                await anyio.wait_writable(self.sock)

    def send_eof(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            anyio.notify_closing(self.sock)  # wakes a task still waiting on it
            self.sock.close()
        await anyio.lowlevel.checkpoint()


async def connect_unix(path: str) -> UnixStream:
    """Connect to a unix stream socket. Raises OSError (ENOENT, ECONNREFUSED...)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.setblocking(False)
        try:
            sock.connect(path)
        except BlockingIOError:  # the listener's backlog is full: wait for room
            await anyio.wait_writable(sock)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, f"connect {path}: {os.strerror(err)}") from None
    except BaseException:
        sock.close()
        raise
    return UnixStream(sock)


async def accept(listener: socket.socket) -> UnixStream:
    """The next connection on a listening socket (itself non-blocking). Raises OSError."""
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            await anyio.wait_readable(listener)
        else:
            conn.set_inheritable(False)
            return UnixStream(conn)


def listen_unix(path: str, backlog: int = 128) -> socket.socket:
    """A non-blocking listening socket bound at `path`. Raises OSError (EADDRINUSE...)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.bind(path)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
