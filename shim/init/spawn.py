"""Start the init helper from a sealed memfd and talk to it: the I/O shell around handshake.py."""

from __future__ import annotations

import _signal
import _socket
import fcntl
import os
import select
import stat
import time

from shim.cancel import wait_readable
from shim.errors import InitFailed, TimedOut
from shim.fdpass import received_fds, rights
from shim.init import protocol as p
from shim.init.handshake import (
    TRANSITIONS,
    Exchange,
    LogDecoder,
    Packet,
    decode_packet,
    encode_packet,
)
from shim.logs import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from shim.cancel import CancelToken
    from shim.children import Child, ChildReaper

HELPER_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "_helper", "shim-init")
# Tests point this at a sanitizer build of the helper; it is still copied into a sealed memfd.
HELPER_ENV = "SHIM_INIT_HELPER"
# Fault points of a test build of the helper (csrc/testhooks.c); passed on only to a helper
# named by HELPER_ENV. The packaged helper is built without them.
TEST_ENV = "SHIM_INIT_TEST"
SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
MFD_EXEC = 0x10  # Linux 6.3+: ask for an executable memfd even when vm.memfd_noexec says otherwise
# Python ignores these; an ignored signal survives execve, so the container would inherit it.
SIGPIPE, SIGXFSZ = 13, 25
LOG_LEVELS = {p.LOG_ERROR: "error", p.LOG_WARN: "warning", p.LOG_INFO: "info", p.LOG_DEBUG: "debug"}
MAX_FDS = 64


def _helper_file() -> tuple[str, int]:
    """The helper to copy, opened: the packaged one, or $SHIM_INIT_HELPER (a sanitizer build
    in tests) when that is a regular file of root's that only root may write."""
    path = os.environ.get(HELPER_ENV) or HELPER_PATH
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise InitFailed(f"init helper {path}: {err.strerror} (is shim installed?)") from None
    st = os.fstat(fd)
    if path != HELPER_PATH and (
        not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022
    ):
        os.close(fd)
        raise InitFailed(f"{HELPER_ENV}={path}: not a regular file only root may write")
    return path, fd


def sealed_helper() -> int:
    """A sealed, executable in-memory copy of the helper (CVE-2019-5736: nothing can write it)."""
    _, src = _helper_file()
    try:
        try:
            mfd = os.memfd_create("shim-init", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING | MFD_EXEC)
        except OSError:
            mfd = os.memfd_create("shim-init", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        size = os.fstat(src).st_size
        offset = 0
        while offset < size:
            offset += os.sendfile(mfd, src, offset, size - offset)
        fcntl.fcntl(mfd, fcntl.F_ADD_SEALS, SEALS)
        return mfd
    finally:
        os.close(src)


class Helper:
    """A running helper: H1 and (once it exists) H2 as children adopted by the reaper, the
    two control channels, the log pipe.

    From the spawn until H2 is adopted the reaper is held: H1 clones H2 into our process
    (CLONE_PARENT), and until we know H2's pid nobody may reap an unknown child.
    """

    __slots__ = (
        "cancel",
        "ctl1",
        "ctl2",
        "h1",
        "h2",
        "holding",
        "log_decoder",
        "log_fd",
        "log_fields",
        "reaper",
    )

    def __init__(
        self,
        reaper: ChildReaper,
        h1: Child,
        ctl1: _socket.socket,
        ctl2: _socket.socket,
        log_fd: int,
        cancel: CancelToken | None,
    ) -> None:
        self.reaper = reaper
        self.h1: Child | None = h1
        self.h2: Child | None = None
        self.holding = True  # spawn_helper took the hold
        self.ctl1 = ctl1
        self.ctl2 = ctl2
        self.log_fd = log_fd
        self.log_decoder = LogDecoder()
        self.log_fields: dict[str, object] = {}  # e.g. the container's id, on every record
        self.cancel = cancel

    @property
    def h1_pid(self) -> int:
        return self.h1.pid if self.h1 is not None else 0

    @property
    def h2_pid(self) -> int:
        return self.h2.pid if self.h2 is not None else 0

    def adopt_h2(self, pid: int) -> Child:
        """H2 exists and we know its pid: own it, then let orphans be reaped again."""
        self.h2 = self.reaper.adopt(pid)
        self._unhold()
        return self.h2

    def _unhold(self) -> None:
        if self.holding:
            self.holding = False
            self.reaper.release_hold()

    def send(
        self, channel: int, mtype: int, body: bytes = b"", fds: list[int] | None = None
    ) -> None:
        sock = self.ctl1 if channel == 1 else self.ctl2
        data = encode_packet(mtype, body, len(fds or ()))
        try:
            sock.sendmsg([data], rights(fds or []))
        except OSError as err:
            raise InitFailed(f"send message {mtype} to the init helper: {err.strerror}") from None

    def recv(self, channel: int, deadline: float) -> Packet | None:
        """The next packet on a channel (None at EOF), relaying log records meanwhile."""
        sock = self.ctl1 if channel == 1 else self.ctl2
        while True:
            fds = [sock.fileno()] if self.log_fd < 0 else [sock.fileno(), self.log_fd]
            try:
                ready = wait_readable(fds, deadline, self.cancel, "wait for the init helper")
            except TimedOut:
                raise InitFailed("timed out waiting for the init helper") from None
            if self.log_fd >= 0 and self.log_fd in ready and not self.drain_log():
                os.close(self.log_fd)
                self.log_fd = -1
            if sock.fileno() in ready:
                return self._read_packet(sock)

    def _read_packet(self, sock: _socket.socket) -> Packet | None:
        try:
            data, anc, flags, _ = sock.recvmsg(
                p.PROTO_MAX_PACKET, _socket.CMSG_SPACE(4 * MAX_FDS), _socket.MSG_CMSG_CLOEXEC
            )
        except OSError as err:
            raise InitFailed(f"receive from the init helper: {err.strerror}") from None
        fds = received_fds(anc)
        try:
            if not data and not anc:
                return None
            if flags & (_socket.MSG_TRUNC | _socket.MSG_CTRUNC):
                raise InitFailed("oversized message from the init helper")
            packet = decode_packet(data, len(fds))
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        packet.fds = fds
        return packet

    def drain_log(self) -> bool:
        """Relay what the log pipe holds; False at EOF."""
        try:
            chunk = os.read(self.log_fd, 65536)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        log = get_logger()
        for level, stage, text in self.log_decoder.feed(chunk):
            log.log(LOG_LEVELS.get(level, "debug"), f"init[{stage}]: {text}", **self.log_fields)
        return True

    def death_note(self) -> str:
        """ ", killed by signal 9" (or an exit status) for a helper process that is gone."""
        for child in (self.h2, self.h1):
            if child is None:
                continue
            try:  # its channel closes a moment before it becomes a zombie: wait for that
                exit_ = self.reaper.wait(child, time.monotonic() + 1.0, self.cancel)
            except TimedOut:
                continue
            if exit_.signal:
                return f": init helper {child.pid} killed by signal {exit_.signal}"
            return f": init helper {child.pid} exited with status {exit_.status}"
        return ""

    def finish_log(self, deadline: float) -> None:
        """Relay log records until the pipe's EOF (or the deadline)."""
        while self.log_fd >= 0:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([self.log_fd], [], [], wait)[0]:
                return
            if not self.drain_log():
                os.close(self.log_fd)
                self.log_fd = -1

    def bury(self) -> None:
        """After a failure: SIGKILL H1 and H2 if they are still there, collect them, forget
        them. Not cancellable: it is what a cancel's cleanup runs."""
        for child in (self.h2, self.h1):
            if child is None or child.pidfd < 0:
                continue
            try:
                _signal.pidfd_send_signal(child.pidfd, _signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.reaper.wait(child)
            self.reaper.release(child)
        self.h1 = self.h2 = None

    def close(self) -> None:
        """Close the channels and the log pipe; give up the hold if H2 never came. The
        children stay adopted: killing and waiting for them is the caller's business."""
        self._unhold()
        self.ctl1.close()
        self.ctl2.close()
        if self.log_fd >= 0:
            os.close(self.log_fd)
            self.log_fd = -1


def _helper_env() -> dict[str, str]:
    """The helper's environment: empty, but for a test build's fault points."""
    test = os.environ.get(TEST_ENV)
    return {TEST_ENV: test} if test and os.environ.get(HELPER_ENV) else {}


def _high_dup(fd: int, floor: int) -> int:
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)


def spawn_helper(
    *,
    reaper: ChildReaper,
    cancel: CancelToken | None = None,
    preserve_fds: int,
    console_sock: int | None,
    fifo_fd: int | None,
    stdio: tuple[int, int, int] | None = None,
) -> Helper:
    """Start H1 with the fd layout of protocol.h. The caller sends BOOT once HELLO arrives.

    `stdio` becomes the helper's (and so the process's) fds 0-2; None gives it /dev/null
    for all three, never this process's own stdio by accident.
    """
    for fd in range(3, 3 + preserve_fds):
        try:
            os.fstat(fd)
        except OSError as err:
            raise InitFailed(
                f"unable to stat preserved-fd {fd - 3} (of {preserve_fds}): "
                f"stat /proc/self/fd/{fd}: {err.strerror.lower() if err.strerror else err}"
            ) from None
    base = 3 + preserve_fds
    floor = base + p.PROTO_FIXED_FDS
    ctl1_parent, ctl1_child = _socket.socketpair(
        _socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC
    )
    ctl2_parent, ctl2_child = _socket.socketpair(
        _socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC
    )
    log_r, log_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    # Above every dup2 target too: the child execs /proc/self/fd/<mfd> after the file
    # actions, and a low number freed meanwhile (by the cgroup prime thread, say) could be
    # one of them, so the child would exec a socket (EACCES).
    mfd = sealed_helper()
    mfd_high = _high_dup(mfd, floor)
    os.close(mfd)
    mfd = mfd_high
    sources = [ctl1_child.fileno(), ctl2_child.fileno(), log_w, console_sock, fifo_fd]
    highs = [_high_dup(devnull if fd is None else fd, floor) for fd in sources]
    actions: list[tuple[int, int, int]] = [(os.POSIX_SPAWN_DUP2, fd, fd) for fd in range(3, base)]
    actions += [(os.POSIX_SPAWN_DUP2, high, base + i) for i, high in enumerate(highs)]
    for i, fd in enumerate(stdio if stdio is not None else (devnull, devnull, devnull)):
        actions.append((os.POSIX_SPAWN_DUP2, _high_dup(fd, floor), i))
    reaper.acquire_hold()
    try:
        pid = os.posix_spawn(
            f"/proc/self/fd/{mfd}",
            ["shim-init", str(preserve_fds)],
            _helper_env(),
            file_actions=actions,
            setsigdef=(SIGPIPE, SIGXFSZ),
            setsigmask=(),
        )
        h1 = reaper.adopt(pid)
    except OSError as err:
        reaper.release_hold()
        ctl1_parent.close()
        ctl2_parent.close()
        os.close(log_r)
        raise InitFailed(f"start the init helper: {err.strerror}") from None
    except BaseException:
        reaper.release_hold()
        raise
    finally:
        for fd in {a[1] for a in actions if a[1] >= floor} | {log_w, devnull, mfd}:
            os.close(fd)
        ctl1_child.close()
        ctl2_child.close()
    return Helper(reaper, h1, ctl1_parent, ctl2_parent, log_r, cancel)


def _reap_h1(helper: Helper, deadline: float) -> None:
    """H1 exits 0 once it has handed H2 over; collect it and forget it."""
    h1 = helper.h1
    assert h1 is not None
    exit_ = helper.reaper.wait(h1, deadline, helper.cancel)
    helper.reaper.release(h1)
    helper.h1 = None
    if exit_.status != 0:
        raise InitFailed(f"init helper (stage 1) exited with status {exit_.status}")


def drive(
    helper: Helper,
    boot: bytes,
    boot_fds: list[int],
    *,
    place: Callable[[int], None],
    on_child: Callable[[int], None],
    on_ready: Callable[[int], None],
    on_hooks: Callable[[int], None] | None = None,
    on_userns: Callable[[int], None] | None = None,
    on_seccomp: Callable[[int, int], None] | None = None,
    on_mount: Callable[[int], int] | None = None,
    table: dict[tuple[str, int], str] = TRANSITIONS,
    timeout: float = 60.0,
) -> None:
    """Run one exchange to its end (handshake.py draws it), calling back at each step.

    place(h1_pid): put H1 into the cgroups before it clones; on_child(h2_pid) once the
    process exists; on_hooks(h2_pid) for HOOKS; on_ready(h2_pid) before RUN;
    on_userns(h1_pid) writes the id maps of H1's new user namespace; on_mount(index) opens
    a bind source for the helper and returns the fd (closed here once sent).
    """
    deadline = time.monotonic() + timeout
    ex = Exchange(table)
    while not ex.done:
        raw = helper.recv(ex.channel, deadline)
        try:
            pkt = ex.receive(raw)
        except InitFailed as err:
            if raw is not None:
                for fd in raw.fds:
                    os.close(fd)
            if raw is None:  # silent death: say how it died if we can see it
                raise InitFailed(f"{err}{helper.death_note()}") from None
            raise
        if pkt is None:
            break
        if pkt.type == p.MSG_SECCOMP_FD:
            try:
                if on_seccomp is None or len(pkt.fds) != 1:
                    raise InitFailed("unexpected seccomp listener from the init helper")
                on_seccomp(helper.h2_pid, pkt.fds[0])
            finally:
                for fd in pkt.fds:
                    os.close(fd)
            helper.send(2, p.MSG_SECCOMP_ACK)
            continue
        for fd in pkt.fds:  # no other message carries fds for the parent
            os.close(fd)
        if pkt.type == p.MSG_MOUNT_REQ:
            if on_mount is None:
                raise InitFailed("unexpected mount source request from the init helper")
            fd = on_mount(pkt.u32(p.T_INDEX))
            try:
                helper.send(2, p.MSG_MOUNT_FD, b"", [fd])
            finally:
                os.close(fd)
            continue
        if pkt.type == p.MSG_HELLO:
            if pkt.u32(p.T_VERSION) != p.PROTO_VERSION:
                version = pkt.u32(p.T_VERSION)
                raise InitFailed(f"init helper speaks protocol {version}, not {p.PROTO_VERSION}")
            place(helper.h1_pid)
            helper.send(1, p.MSG_BOOT, boot, boot_fds)
        elif pkt.type == p.MSG_USERNS_READY and on_userns is not None:
            on_userns(helper.h1_pid)
            helper.send(1, p.MSG_USERNS_MAPPED)
        elif pkt.type == p.MSG_CHILD:
            helper.adopt_h2(pkt.u32(p.T_PID))
            on_child(helper.h2_pid)
            helper.send(1, p.MSG_CHILD_ACK)
            _reap_h1(helper, deadline)
        elif pkt.type == p.MSG_HOOKS and on_hooks is not None:
            started = time.monotonic()
            on_hooks(helper.h2_pid)  # hooks have their own timeouts: not the handshake's
            deadline += time.monotonic() - started
            helper.send(2, p.MSG_HOOKS_DONE)
        elif pkt.type == p.MSG_READY:
            on_ready(helper.h2_pid)
            helper.send(2, p.MSG_RUN)
    helper.finish_log(time.monotonic() + 1.0)
