"""The I/O shell around exchange.py: start `criu swrk 3`, talk to it, reap it.

criu gets our socketpair's other end as fd 3, the given stdio as 0-2, and extra
fds from 4 on (runc's layout, which inherit_fd keys refer to). A caller that must
change the world criu starts in (restore: a private mount namespace with the
rootfs bound where criu wants its root) passes `prepare`: criu is then forked, not
spawned, and `prepare` runs in the child just before the exec.
"""

from __future__ import annotations

import _socket
import os
import select
import signal
import struct
import time

from shim.criu import rpc_pb2 as rpc
from shim.criu.exchange import Exchange, Finished, Notification, type_name
from shim.errors import CriuError, ShimError
from shim.logs import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

MAX_ANSWER = 1 << 20  # criu's answers are small; a bigger one is a protocol error
MAX_FDS = 8
FD_FLOOR = 100  # where fds wait before they are dup2'd into criu's layout


def _launch_error(binary: str, err: OSError) -> CriuError:
    """Go's exec texts, which runc prints for a missing criu."""
    if "/" not in binary and err.errno == 2:
        return CriuError(f'exec: "{binary}": executable file not found in $PATH')
    reason = (err.strerror or str(err)).lower()
    return CriuError(f"fork/exec {binary}: {reason}")


def _fd_layout(server: int, stdio: Sequence[int], extra: Sequence[int]) -> list[tuple[int, int]]:
    """(source, target) pairs: stdio 0-2, the socket 3, extra fds 4.. ."""
    return [*zip(stdio, (0, 1, 2), strict=True), (server, 3)] + [
        (fd, 4 + i) for i, fd in enumerate(extra)
    ]


def _high(fd: int) -> int:
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, FD_FLOOR)


def _spawn(binary: str, layout: list[tuple[int, int]]) -> int:
    highs = [_high(src) for src, _ in layout]  # out of the way of the targets first
    try:
        actions = [(os.POSIX_SPAWN_DUP2, h, t) for h, (_, t) in zip(highs, layout, strict=True)]
        return os.posix_spawnp(
            binary,
            [binary, "swrk", "3"],
            os.environ,
            file_actions=actions,
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # Python ignores these
            setsigmask=(),
        )
    except OSError as err:
        raise _launch_error(binary, err) from None
    finally:
        for fd in highs:
            os.close(fd)


def _fork(
    binary: str, layout: list[tuple[int, int]], prepare: Callable[[], list[int]]
) -> tuple[int, list[int]]:
    """fork, `prepare()` in the child, then exec criu; returns criu's pid and the fds
    prepare() opened in the child (passed back over SCM_RIGHTS: they are files as the
    child's mount namespace sees them). The child's messages on a close-on-exec socket:
    `F` (+fds), then `E<errno>` (the exec failed) or `M<message>` (prepare failed), or
    nothing: EOF means the exec happened."""
    highs = [_high(src) for src, _ in layout]
    ours, theirs = _socket.socketpair(
        _socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC
    )
    try:
        pid = os.fork()
        if pid == 0:  # the child: no logging, no locks; only syscalls, then exec or _exit
            _child(binary, layout, highs, theirs, prepare)
    finally:
        theirs.close()
        for fd in highs:
            os.close(fd)
    try:
        fds, report = _child_reports(ours)
    finally:
        ours.close()
    if not report:
        return pid, fds
    for fd in fds:
        os.close(fd)
    os.waitpid(pid, 0)
    if report[:1] == b"E":
        errno = int(report[1:])
        raise _launch_error(binary, OSError(errno, os.strerror(errno)))
    raise ShimError(report[1:].decode(errors="replace"))  # prepare's, not criu's


def _child(
    binary: str,
    layout: list[tuple[int, int]],
    highs: list[int],
    channel: _socket.socket,
    prepare: Callable[[], list[int]],
) -> None:
    report = b""
    try:
        opened = prepare()
        if opened:
            rights = struct.pack(f"{len(opened)}i", *opened)
            channel.sendmsg([b"F"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        for high, (_, target) in zip(highs, layout, strict=True):
            os.dup2(high, target)  # dup2 clears FD_CLOEXEC on the target
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        report = b"E"
        os.execvp(binary, [binary, "swrk", "3"])
    except OSError as err:
        report = b"E%d" % (err.errno or 0) if report else b"M" + str(err).encode(errors="replace")
    except BaseException as err:
        report = b"M" + str(err).encode(errors="replace")
    finally:
        try:
            channel.send(report[:4000] or b"M?")
        finally:
            os._exit(127)


def _child_reports(sock: _socket.socket) -> tuple[list[int], bytes]:
    """(fds the child passed, its failure report or b"" for a successful exec)."""
    fds: list[int] = []
    while True:
        data, anc, _, _ = sock.recvmsg(4096, _socket.CMSG_SPACE(4 * MAX_FDS))
        fds += [
            fd
            for level, kind, raw in anc
            if (level, kind) == (_socket.SOL_SOCKET, _socket.SCM_RIGHTS)
            for fd in struct.unpack(f"{len(raw) // 4}i", raw[: len(raw) - len(raw) % 4])
        ]
        if data != b"F":
            return fds, data


class _Session:
    """A started criu: its pid, our end of the socket, and a deadline for everything."""

    def __init__(self, pid: int, sock: _socket.socket, deadline: float | None) -> None:
        self.pid = pid
        self.sock = sock
        self.deadline = deadline
        self.reaped: int | None = None  # criu's wait status once reaped

    def _left(self) -> float | None:
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CriuError("timed out waiting for criu")
        return left

    def send(self, data: bytes) -> None:
        try:
            self.sock.send(data)
        except OSError as err:
            raise CriuError(f"write to criu: {err.strerror}") from None

    def recv(self) -> tuple[bytes, list[int]]:
        left = self._left()
        ready, _, _ = select.select([self.sock], [], [], left)
        if not ready:
            raise CriuError("timed out waiting for criu")
        try:
            data, anc, flags, _ = self.sock.recvmsg(
                MAX_ANSWER, _socket.CMSG_SPACE(4 * MAX_FDS), _socket.MSG_CMSG_CLOEXEC
            )
        except OSError as err:
            raise CriuError(f"read from criu: {err.strerror}") from None
        fds = [
            fd
            for level, kind, raw in anc
            if (level, kind) == (_socket.SOL_SOCKET, _socket.SCM_RIGHTS)
            for fd in struct.unpack(f"{len(raw) // 4}i", raw[: len(raw) - len(raw) % 4])
        ]
        if flags & (_socket.MSG_TRUNC | _socket.MSG_CTRUNC):
            for fd in fds:
                os.close(fd)
            raise CriuError("buffer is too small for criu's answer")
        return data, fds

    def reap(self, kill: bool = False) -> int:
        """Wait for criu to exit (SIGKILL it first with `kill`, or at the deadline)."""
        if self.reaped is not None:
            return self.reaped
        pidfd = os.pidfd_open(self.pid)
        try:
            if kill:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            # No deadline: criu exits once it has answered or seen EOF; 30 s is plenty.
            left = 30.0 if self.deadline is None else max(self.deadline - time.monotonic(), 1.0)
            if not select.select([pidfd], [], [], left)[0]:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        finally:
            os.close(pidfd)
        _, status = os.waitpid(self.pid, 0)
        self.reaped = status
        return status


def run_swrk(
    request: rpc.criu_req,
    *,
    binary: str = "criu",
    stdio: Sequence[int] | None = None,
    extra_fds: Sequence[int] = (),
    prepare: Callable[[], list[int]] | None = None,
    on_start: Callable[[int, list[int]], None] | None = None,
    on_notify: Callable[[Notification], None] | None = None,
    timeout: float | None = None,
) -> rpc.criu_resp:
    """Serve one request with a new `criu swrk`; returns criu's final answer.

    on_start(criu_pid, prepared) runs before the request is sent and may still change
    `request` (restore places criu in the container's cgroups, names them in cg_root,
    and points images_dir_fd/work_dir_fd at `prepared`: the fds prepare() opened in the
    child, which run_swrk closes once criu is done).
    on_notify(notification) runs for each notification; if it raises, criu is told
    nothing more (it sees EOF and aborts), and the error is raised once criu is gone.
    CriuError for everything criu or its launch report.
    """
    log = get_logger()
    ours, theirs = _socket.socketpair(
        _socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC
    )
    devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC) if stdio is None else -1
    prepared: list[int] = []
    try:
        layout = _fd_layout(theirs.fileno(), stdio or (devnull,) * 3, extra_fds)
        if prepare is None:
            pid = _spawn(binary, layout)
        else:
            pid, prepared = _fork(binary, layout, prepare)
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()  # ours alone now: criu's death is our EOF
        if devnull >= 0:
            os.close(devnull)
    session = _Session(pid, ours, None if timeout is None else time.monotonic() + timeout)
    try:
        if on_start is not None:
            on_start(pid, prepared)
        return _converse(session, request, on_notify, log.enabled("debug"))
    except BaseException:
        ours.close()
        session.reap(kill=False)
        raise
    finally:
        ours.close()
        for fd in prepared:
            os.close(fd)


def _converse(
    session: _Session,
    request: rpc.criu_req,
    on_notify: Callable[[Notification], None] | None,
    debug: bool,
) -> rpc.criu_resp:
    log = get_logger()
    exchange = Exchange(request)
    if debug:
        log.debug(f"criu {type_name(request.type)} request: {request.opts}".replace("\n", " "))
    session.send(exchange.encode())
    while True:
        data, fds = session.recv()
        try:
            event = exchange.receive(data, fds)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        if isinstance(event, Finished):
            for fd in fds:
                os.close(fd)
            break
        log.debug(f"criu notify: {event.script} (pid {event.pid})")
        try:
            if on_notify is not None:
                on_notify(event)
        finally:
            for fd in event.fds:
                os.close(fd)
        session.send(Exchange.acknowledge())
    session.sock.shutdown(_socket.SHUT_WR)
    status = session.reap()
    # criu stays in a pre-dump loop waiting for the next request: runc kills it, so do we.
    if os.waitstatus_to_exitcode(status) != 0 and request.type != rpc.PRE_DUMP:
        raise CriuError(f"criu failed: {_describe(status)}")
    return event.response


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal: {signal.Signals(os.WTERMSIG(status)).name.lower()}"
    return f"exit status {os.WEXITSTATUS(status)}"
