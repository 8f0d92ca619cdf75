"""The console socket (a pty master over SCM_RIGHTS) and the foreground pty proxy of `run`.

The one-shot CLI uses the blocking calls (`connect_console_socket`, `socket_pair`,
`recv_master`); the containerd shim the async ones (`receive_master`,
`ConsoleSocket`), which wait with anyio and so run on asyncio and trio.
"""

from __future__ import annotations

import _socket
import os

from shim.errors import Internal, Unavailable
from shim.fdpass import received_fds, rights

MASTER_NAME_MAX = 4096


def connect_console_socket(path: str) -> int:
    """Connect to a --console-socket listener; the fd goes to the helper (runc's error text)."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as err:
        sock.close()
        reason = (err.strerror or str(err)).lower()
        raise Unavailable(f"dial unix {path}: connect: {reason}") from err
    return sock.detach()


def socket_pair() -> tuple[int, int]:
    """(ours, the helper's): an in-process console socket for a foreground run."""
    a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    return a.detach(), b.detach()


def recv_master(fd: int) -> int:
    """Receive the one pty master fd sent over a console socket."""
    sock = _socket.socket(fileno=fd)
    try:
        _, anc, _, _ = sock.recvmsg(
            MASTER_NAME_MAX, _socket.CMSG_SPACE(4), _socket.MSG_CMSG_CLOEXEC
        )
    finally:
        sock.close()
    fds = received_fds(anc)
    for extra in fds[1:]:  # one master is all a console socket carries
        os.close(extra)
    if not fds:
        raise Internal("console socket: no pty master received")
    return fds[0]


def send_master(sock: int, master: int, name: str) -> None:
    """Send `master` over the connected console socket `sock`, with the pty's `name`
    (e.g. /dev/pts/3) as the message, as runc does. `sock` stays open; blocking."""
    payload = name.encode() or b"\0"  # a stream socket carries no control data without bytes
    sock_obj = _socket.socket(fileno=sock)
    try:
        sock_obj.sendmsg([payload], rights([master]))
    finally:
        sock_obj.detach()


async def receive_master(fd: int) -> int:
    """recv_master without blocking the event loop (anyio: asyncio or trio); closes `fd`."""
    import anyio

    from shim.io.fds import close_fd

    try:
        os.set_blocking(fd, False)
        while True:
            await anyio.wait_readable(fd)
            try:
                return recv_master(os.dup(fd))
            except BlockingIOError:  # woken without a message: wait again
                continue
    finally:
        close_fd(fd)


class ConsoleSocket:
    """A --console-socket listener: a unix socket at `path` that takes one pty master.

    With no `path`, it lives in a fresh private temp dir (as the runc shim's
    NewTempConsoleSocket). `close()` removes what it made.
    """

    def __init__(self, path: str | None = None) -> None:
        import tempfile

        self._tmpdir = tempfile.mkdtemp(prefix="shim-console-") if path is None else ""
        self.path = path or os.path.join(self._tmpdir, "pty.sock")
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            sock.bind(self.path)
            sock.listen(1)
        except OSError as err:
            sock.close()
            self._remove_tmpdir()
            reason = (err.strerror or str(err)).lower()
            raise Internal(f"listen unix {self.path}: {reason}") from err
        sock.setblocking(False)
        self._listener = sock.detach()

    async def receive(self) -> int:
        """Accept the runtime's connection and return the pty master it sends."""
        import socket

        import anyio

        while True:
            await anyio.wait_readable(self._listener)
            sock = socket.socket(fileno=os.dup(self._listener))
            try:
                conn, _ = sock.accept()
            except BlockingIOError:
                continue
            finally:
                sock.close()
            conn.setblocking(False)
            return await receive_master(conn.detach())

    def close(self) -> None:
        if self._listener >= 0:
            from shim.io.fds import close_fd

            fd, self._listener = self._listener, -1
            close_fd(fd)
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self._remove_tmpdir()

    def _remove_tmpdir(self) -> None:
        if self._tmpdir:
            os.rmdir(self._tmpdir)
            self._tmpdir = ""
