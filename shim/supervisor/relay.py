"""The foreground's stdio: copies between this process's 0-2 and a container process.

runc's foreground `run` and `exec` never hand their own stdio to the container: a
host terminal given to the runtime must not reach the container (it could `TIOCSTI`
into it). The process gets pipes (or, with a terminal, a pty whose master comes back
over the console socket) and this relay copies: our stdin to the process, its stdout
and stderr (or the pty master) to ours, whatever ours are (a pipe, a file, a tty).

Sync on purpose (poll, splice): `run` and `exec` are one-shot commands, and an event
loop would cost them more start-up than the copying costs.
"""

from __future__ import annotations

import errno
import os
import select
import time

POLLIN, POLLOUT = select.POLLIN, select.POLLOUT
CHUNK = 1 << 20
SPLICE_FLAGS = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
_SPLICE_UNSUPPORTED = (errno.EINVAL, errno.ENOSYS, errno.EBADF)


class _Route:
    """One direction: bytes from `src` to `dst` until `src` ends."""

    __slots__ = ("buf", "done", "dst", "on_done", "src", "use_splice", "wait_dst")

    def __init__(self, src: int, dst: int, on_done: int = -1) -> None:
        self.src = src
        self.dst = dst
        # The pipe end to close when this direction ends: the process's stdin (it then
        # reads EOF), or its stdout's read end (once our reader left, it gets EPIPE).
        self.on_done = on_done
        self.buf = b""
        self.use_splice = True
        self.wait_dst = False
        self.done = False

    def want(self) -> tuple[int, int]:
        return (self.dst, POLLOUT) if self.buf or self.wait_dst else (self.src, POLLIN)

    def move(self) -> None:
        """Move what can move now without blocking."""
        if self.buf:
            self._write()
            return
        self.wait_dst = False
        if self.use_splice:
            try:
                moved = os.splice(self.src, self.dst, CHUNK, flags=SPLICE_FLAGS)
            except BlockingIOError:
                self.wait_dst = True  # src was readable: the destination is full
                return
            except OSError as err:
                if err.errno in (errno.EPIPE, errno.EIO):
                    # our reader went away, or a pty master whose slave side closed
                    self._finish()
                    return
                if err.errno not in _SPLICE_UNSUPPORTED:
                    raise
                self.use_splice = False  # a tty or a socket: plain read/write
            else:
                if moved == 0:
                    self._finish()
                return
        try:
            data = os.read(self.src, 65536)
        except BlockingIOError:
            return
        except OSError as err:
            if err.errno != errno.EIO:  # a pty master reads EIO once its slave side closed
                raise
            data = b""
        if not data:
            self._finish()
            return
        self.buf = data
        self._write()

    def _write(self) -> None:
        try:
            written = os.write(self.dst, self.buf)
        except BlockingIOError:
            return
        except OSError as err:
            if err.errno not in (errno.EPIPE, errno.EIO):
                raise
            self.buf = b""
            self._finish()
            return
        self.buf = self.buf[written:]

    def _finish(self) -> None:
        self.done = True
        self.close()

    def close(self) -> None:
        if self.on_done >= 0:
            os.close(self.on_done)
            self.on_done = -1


class Relay:
    """Copies between our stdio and a foreground process's. See the module docstring."""

    def __init__(self) -> None:
        self._routes: list[_Route] = []
        self._ours: list[int] = []  # fds this relay opened and closes
        self._tty = -1
        self._saved_tty: list[int | list[bytes | int]] | None = None

    @classmethod
    def with_pipes(cls) -> tuple[Relay, tuple[int, int, int]]:
        """A relay over three fresh pipes; the second value is the process's ends (the
        caller passes them to the helper, then closes them with `close_child_ends`)."""
        relay = cls()
        in_r, in_w = os.pipe2(os.O_CLOEXEC)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        for fd in (in_w, out_r, err_r):
            os.set_blocking(fd, False)
        if _usable(0):
            relay._routes.append(_Route(0, in_w, on_done=in_w))
        else:
            os.close(in_w)  # no stdin of ours: the process reads EOF at once
        relay._routes.append(_Route(out_r, 1, on_done=out_r))
        relay._routes.append(_Route(err_r, 2, on_done=err_r))
        return relay, (in_r, out_w, err_w)

    @classmethod
    def with_console(cls, master: int) -> Relay:
        """A relay over a pty master: our stdin to it, it to our stdout. The host's terminal
        (stderr, stdout or stdin, whichever is one, else /dev/tty; runc's order) goes raw
        meanwhile and lends its size to the pty. No terminal at all: runc's error."""
        relay = cls()
        os.set_blocking(master, False)
        relay._ours.append(master)
        try:
            relay._raw_tty(_host_console())
            relay.resize(master)
            if _usable(0):
                relay._routes.append(_Route(0, master))
            relay._routes.append(_Route(master, 1))
        except BaseException:
            relay.close()
            raise
        return relay

    def _raw_tty(self, fd: int) -> None:
        import termios
        import tty

        self._tty = fd
        self._saved_tty = termios.tcgetattr(fd)
        tty.setraw(fd)

    def resize(self, master: int | None = None) -> None:
        """Give the pty our terminal's size (on SIGWINCH too)."""
        if self._tty < 0:
            return
        import fcntl
        import termios

        target = master if master is not None else self._ours[0]
        size = fcntl.ioctl(self._tty, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(target, termios.TIOCSWINSZ, size)

    def step(self, extra: list[int], deadline: float | None = None) -> set[int]:
        """Wait (until `deadline`, None: no limit) for any route or one of `extra` (a pidfd,
        a wake-up pipe) to be ready; move what is ready; the ready fds of `extra`."""
        poller = select.poll()
        wanted: dict[int, list[_Route]] = {}
        for route in self._routes:
            if not route.done:
                fd, event = route.want()
                wanted.setdefault(fd, []).append(route)
                poller.register(fd, event)
        for fd in extra:
            poller.register(fd, POLLIN)
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic()) * 1000
        ready: set[int] = set()
        for fd, _event in poller.poll(timeout):
            for route in wanted.get(fd, ()):
                route.move()
            ready.add(fd)
        return ready & set(extra)

    @property
    def outputs_open(self) -> bool:
        return any(not r.done for r in self._routes if r.src != 0)

    def drain(self, idle: float = 1.0) -> None:
        """After the process exited: copy its outputs until they end, or until nothing has
        come for `idle` seconds (something it left behind may keep them open)."""
        while self.outputs_open:
            for route in self._routes:
                if route.src == 0:
                    route.done = True  # the process is gone: stop reading our stdin
                    route.close()
            before = sum(1 for r in self._routes if not r.done)
            ready = self._poll_outputs(idle)
            if not ready and before == sum(1 for r in self._routes if not r.done):
                return

    def _poll_outputs(self, idle: float) -> bool:
        poller = select.poll()
        for route in self._routes:
            if not route.done:
                poller.register(*route.want())
        events = poller.poll(idle * 1000)
        for fd, _ in events:
            for route in self._routes:
                if not route.done and route.want()[0] == fd:
                    route.move()
        return bool(events)

    def close(self) -> None:
        if self._saved_tty is not None:
            import termios

            termios.tcsetattr(self._tty, termios.TCSADRAIN, self._saved_tty)
            self._saved_tty = None
        if self._tty > 2:  # /dev/tty, opened for this relay
            os.close(self._tty)
        self._tty = -1
        for route in self._routes:
            route.close()
        for fd in self._ours:
            os.close(fd)
        self._ours = []


def _host_console() -> int:
    """The terminal runc's foreground would set raw: the first of stderr, stdout, stdin that
    is one, or the controlling terminal. Raises runc's error when there is none."""
    for fd in (2, 1, 0):
        if os.isatty(fd):
            return fd
    try:
        return os.open("/dev/tty", os.O_RDWR | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as err:
        from shim.errors import Unavailable

        reason = (err.strerror or str(err)).lower()
        raise Unavailable(f"open /dev/tty: {reason}") from None


def close_child_ends(fds: tuple[int, int, int]) -> None:
    for fd in fds:
        os.close(fd)


def _usable(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True
