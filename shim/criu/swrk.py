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
import signal
import time

from shim.cancel import wait_readable
from shim.criu import rpc_pb2 as rpc
from shim.criu.exchange import Exchange, Finished, Notification, type_name
from shim.errors import CriuError, ShimError, TimedOut
from shim.fdpass import received_fds, rights
from shim.logs import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from shim.cancel import CancelToken
    from shim.children import Child, ChildReaper, Exit

MAX_ANSWER = 1 << 20  # criu's answers are small; a bigger one is a protocol error
MAX_FDS = 8
FD_FLOOR = 100  # where fds wait before they are dup2'd into criu's layout
EXIT_WAIT = 30.0  # criu exits at once after its last answer or at EOF: this is plenty


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
    binary: str,
    layout: list[tuple[int, int]],
    prepare: Callable[[], list[int]],
    reaper: ChildReaper,
) -> tuple[Child, list[int]]:
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
    child = reaper.adopt(pid)
    try:
        fds, report = _child_reports(ours)
    finally:
        ours.close()
    if not report:
        return child, fds
    for fd in fds:
        os.close(fd)
    reaper.wait(child)  # it _exits right after its report
    reaper.release(child)
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
            channel.sendmsg([b"F"], rights(opened))
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
        fds += received_fds(anc)
        if data != b"F":
            return fds, data


class _Session:
    """A started criu: the child adopted by the reaper, our end of the socket, and a
    deadline and cancel token for every wait."""

    def __init__(
        self,
        reaper: ChildReaper,
        child: Child,
        sock: _socket.socket,
        deadline: float | None,
        cancel: CancelToken | None,
    ) -> None:
        self.reaper = reaper
        self.child = child
        self.sock = sock
        self.deadline = deadline
        self.cancel = cancel

    def send(self, data: bytes) -> None:
        try:
            self.sock.send(data)
        except OSError as err:
            raise CriuError(f"write to criu: {err.strerror}") from None

    def recv(self) -> tuple[bytes, list[int]]:
        """The next datagram; TimedOut at the deadline, Cancelled by the token."""
        wait_readable([self.sock.fileno()], self.deadline, self.cancel, "wait for criu")
        try:
            data, anc, flags, _ = self.sock.recvmsg(
                MAX_ANSWER, _socket.CMSG_SPACE(4 * MAX_FDS), _socket.MSG_CMSG_CLOEXEC
            )
        except OSError as err:
            raise CriuError(f"read from criu: {err.strerror}") from None
        fds = received_fds(anc)
        if flags & (_socket.MSG_TRUNC | _socket.MSG_CTRUNC):
            for fd in fds:
                os.close(fd)
            raise CriuError("buffer is too small for criu's answer")
        return data, fds

    def finish(self) -> Exit:
        """criu's exit, through the reaper: it exits once it has answered (or seen EOF on
        the socket); it is killed if it has not within EXIT_WAIT."""
        try:
            return self.reaper.wait(self.child, time.monotonic() + EXIT_WAIT)
        except TimedOut:
            signal.pidfd_send_signal(self.child.pidfd, signal.SIGKILL)
            return self.reaper.wait(self.child)
        finally:
            self.reaper.release(self.child)


def run_swrk(
    request: rpc.criu_req,
    *,
    reaper: ChildReaper,
    binary: str = "criu",
    stdio: Sequence[int] | None = None,
    extra_fds: Sequence[int] = (),
    prepare: Callable[[], list[int]] | None = None,
    on_start: Callable[[int, list[int]], None] | None = None,
    on_notify: Callable[[Notification], None] | None = None,
    timeout: float | None = None,
    cancel: CancelToken | None = None,
) -> rpc.criu_resp:
    """Serve one request with a new `criu swrk`; returns criu's final answer.

    criu is a child adopted by `reaper`, which is held for the whole session: a restore
    makes the restored init our child too (rst_sibling), and it must not be reaped as
    an orphan before on_notify adopts it at post-restore.
    on_start(criu_pid, prepared) runs before the request is sent and may still change
    `request` (restore places criu in the container's cgroups, names them in cg_root,
    and points images_dir_fd/work_dir_fd at `prepared`: the fds prepare() opened in the
    child, which run_swrk closes once criu is done).
    on_notify(notification) runs for each notification; if it raises, criu is told
    nothing more (it sees EOF and aborts, undoing what it restored), and the error is
    raised once criu is gone. CriuError for what criu or its launch report; TimedOut
    after `timeout` seconds; Cancelled by `cancel`.
    """
    log = get_logger()
    ours, theirs = _socket.socketpair(
        _socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC
    )
    devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC) if stdio is None else -1
    prepared: list[int] = []
    with reaper.hold():
        try:
            layout = _fd_layout(theirs.fileno(), stdio or (devnull,) * 3, extra_fds)
            if prepare is None:
                child = reaper.adopt(_spawn(binary, layout))
            else:
                child, prepared = _fork(binary, layout, prepare, reaper)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # ours alone now: criu's death is our EOF
            if devnull >= 0:
                os.close(devnull)
        deadline = None if timeout is None else time.monotonic() + timeout
        session = _Session(reaper, child, ours, deadline, cancel)
        try:
            if on_start is not None:
                on_start(child.pid, prepared)
            return _converse(session, request, on_notify, log.enabled("debug"))
        finally:
            ours.close()  # (again, after an error: criu sees EOF and gives up)
            if child.pidfd >= 0:
                session.finish()
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
    exit_ = session.finish()
    # criu stays in a pre-dump loop waiting for the next request: runc kills it, so do we.
    if exit_.status != 0 and request.type != rpc.PRE_DUMP:
        raise CriuError(f"criu failed: {_describe(exit_)}")
    return event.response


def _describe(exit_: Exit) -> str:
    if exit_.signal:
        return f"signal: {signal.Signals(exit_.signal).name.lower()}"
    return f"exit status {exit_.status}"
