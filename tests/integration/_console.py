"""Test helpers for terminals: a --console-socket listener and a deadline-bounded pty reader."""

from __future__ import annotations

import array
import os
import select
import socket
import threading
import time
from pathlib import Path


class Received:
    """What one connection to the console socket delivered."""

    def __init__(
        self, data: bytes, fds: list[int], cmsgs: list[tuple[int, int, int]], eof: bool
    ) -> None:
        self.data = data
        self.fds = fds
        self.cmsgs = cmsgs  # (level, type, payload length) of every control message
        self.eof = eof  # the sender closed the connection after its one message


class ConsoleListener:
    """Listens on a unix SOCK_STREAM socket and accepts one connection in a thread.

    Use as a context manager; `received(timeout)` waits for the message. Every fd
    received is closed on exit unless the test took it with `take_master()`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(1)
        self.sock.settimeout(0.05)  # accept() polls, so that __exit__ can stop it at once
        self._result: Received | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._stop = threading.Event()
        self._taken: set[int] = set()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> ConsoleListener:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(35)
        self.sock.close()
        if self._result is not None:
            for fd in self._result.fds:
                if fd not in self._taken:
                    os.close(fd)

    def _accept(self) -> None:
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    conn, _ = self.sock.accept()
                    break
                except TimeoutError:
                    if self._stop.is_set() or time.monotonic() > deadline:
                        raise TimeoutError("nobody connected to the console socket") from None
            with conn:
                conn.settimeout(30)
                data, anc, _flags, _addr = conn.recvmsg(
                    4096, socket.CMSG_SPACE(16 * 4), socket.MSG_CMSG_CLOEXEC
                )
                fds: list[int] = []
                cmsgs = []
                for level, kind, payload in anc:
                    cmsgs.append((level, kind, len(payload)))
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        usable = len(payload) - len(payload) % 4
                        fds.extend(array.array("i", payload[:usable]))
                eof = conn.recv(1) == b""
            self._result = Received(data, fds, cmsgs, eof)
        except BaseException as err:  # reported by received()
            self._error = err
        finally:
            self._done.set()

    def received(self, timeout: float = 10.0) -> Received:
        if not self._done.wait(timeout):
            raise AssertionError(f"nothing arrived on the console socket within {timeout}s")
        if self._error is not None:
            raise AssertionError(f"console socket: {self._error!r}")
        assert self._result is not None
        return self._result

    def take_master(self, timeout: float = 10.0) -> int:
        """The one fd received; the caller closes it."""
        got = self.received(timeout)
        assert len(got.fds) == 1, got.fds
        self._taken.add(got.fds[0])
        return got.fds[0]


def read_until(fd: int, wanted: bytes, timeout: float = 10.0) -> bytes:
    """Read a pty master until `wanted` shows up; raise with what arrived after `timeout`."""
    seen = bytearray()
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{wanted!r} not seen within {timeout}s; got {bytes(seen)!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every slave fd closed
            chunk = b""
        if not chunk:
            raise AssertionError(f"{wanted!r} not seen before the pty closed; got {bytes(seen)!r}")
        seen += chunk
    return bytes(seen)


def read_to_close(fd: int, timeout: float = 10.0) -> bytes:
    """Everything a pty master yields until the slave side is gone (EIO) or EOF."""
    seen = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the pty stayed open past {timeout}s; got {bytes(seen)!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return bytes(seen)
        if not chunk:
            return bytes(seen)
        seen += chunk
