"""Start the init helper from a sealed memfd and talk to it: the I/O shell around handshake.py."""

from __future__ import annotations

import _socket
import fcntl
import os
import select
import struct
import time

from shim.errors import InitFailed
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

HELPER_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "_helper", "shim-init")
# Tests point this at a sanitizer build of the helper; it is still copied into a sealed memfd.
HELPER_ENV = "SHIM_INIT_HELPER"
SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
MFD_EXEC = 0x10  # Linux 6.3+: ask for an executable memfd even when vm.memfd_noexec says otherwise
# Python ignores these; an ignored signal survives execve, so the container would inherit it.
SIGPIPE, SIGXFSZ = 13, 25
LOG_LEVELS = {p.LOG_ERROR: "error", p.LOG_WARN: "warning", p.LOG_INFO: "info", p.LOG_DEBUG: "debug"}
MAX_FDS = 64


def sealed_helper() -> int:
    """A sealed, executable in-memory copy of the helper (CVE-2019-5736: nothing can write it)."""
    try:
        src = os.open(HELPER_PATH, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise InitFailed(
            f"init helper {HELPER_PATH}: {err.strerror} (is shim installed?)"
        ) from None
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
    """A running helper: H1's pid, the two control channels, the log pipe."""

    __slots__ = ("ctl1", "ctl2", "h1_pid", "h2_pid", "log_decoder", "log_fd")

    def __init__(
        self, h1_pid: int, ctl1: _socket.socket, ctl2: _socket.socket, log_fd: int
    ) -> None:
        self.h1_pid = h1_pid
        self.h2_pid = 0
        self.ctl1 = ctl1
        self.ctl2 = ctl2
        self.log_fd = log_fd
        self.log_decoder = LogDecoder()

    def send(
        self, channel: int, mtype: int, body: bytes = b"", fds: list[int] | None = None
    ) -> None:
        sock = self.ctl1 if channel == 1 else self.ctl2
        data = encode_packet(mtype, body, len(fds or ()))
        anc = (
            [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))]
            if fds
            else []
        )
        try:
            sock.sendmsg([data], anc)
        except OSError as err:
            raise InitFailed(f"send message {mtype} to the init helper: {err.strerror}") from None

    def recv(self, channel: int, deadline: float) -> Packet | None:
        """The next packet on a channel (None at EOF), relaying log records meanwhile."""
        sock = self.ctl1 if channel == 1 else self.ctl2
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        if self.log_fd >= 0:
            poller.register(self.log_fd, select.POLLIN)
        while True:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise InitFailed("timed out waiting for the init helper")
            ready = dict(poller.poll(wait * 1000))
            if self.log_fd >= 0 and self.log_fd in ready and not self.drain_log():
                poller.unregister(self.log_fd)
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
        fds = [
            fd
            for level, kind, raw in anc
            if (level, kind) == (_socket.SOL_SOCKET, _socket.SCM_RIGHTS)
            for fd in struct.unpack(f"{len(raw) // 4}i", raw[: len(raw) - len(raw) % 4])
        ]
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
            getattr(log, LOG_LEVELS.get(level, "debug"))(f"init[{stage}]: {text}")
        return True

    def death_note(self) -> str:
        """ ", killed by signal 9" (or an exit status) for a helper process that is gone."""
        for pid in (self.h2_pid, self.h1_pid):
            if not pid:
                continue
            try:  # its channel closes a moment before it becomes a zombie: wait for that
                pidfd = os.pidfd_open(pid)
                select.select([pidfd], [], [], 1.0)
                os.close(pidfd)
                waited, status = os.waitpid(pid, os.WNOHANG)
            except (ChildProcessError, ProcessLookupError):
                continue
            if waited == pid and os.WIFSIGNALED(status):
                return f": init helper {pid} killed by signal {os.WTERMSIG(status)}"
            if waited == pid:
                return f": init helper {pid} exited with status {os.WEXITSTATUS(status)}"
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

    def close(self) -> None:
        self.ctl1.close()
        self.ctl2.close()
        if self.log_fd >= 0:
            os.close(self.log_fd)
            self.log_fd = -1


def _high_dup(fd: int, floor: int) -> int:
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)


def spawn_helper(
    *,
    preserve_fds: int,
    console_sock: int | None,
    fifo_fd: int | None,
    stdio: tuple[int, int, int] | None = None,
) -> Helper:
    """Start H1 with the fd layout of protocol.h. The caller sends BOOT once HELLO arrives."""
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
    mfd = sealed_helper()
    sources = [ctl1_child.fileno(), ctl2_child.fileno(), log_w, console_sock, fifo_fd]
    highs = [_high_dup(devnull if fd is None else fd, floor) for fd in sources]
    actions: list[tuple[int, int, int]] = [(os.POSIX_SPAWN_DUP2, fd, fd) for fd in range(3, base)]
    actions += [(os.POSIX_SPAWN_DUP2, high, base + i) for i, high in enumerate(highs)]
    if stdio is not None:
        actions += [(os.POSIX_SPAWN_DUP2, _high_dup(fd, floor), i) for i, fd in enumerate(stdio)]
    try:
        pid = os.posix_spawn(
            f"/proc/self/fd/{mfd}",
            ["shim-init", str(preserve_fds)],
            {},
            file_actions=actions,
            setsigdef=(SIGPIPE, SIGXFSZ),
            setsigmask=(),
        )
    except OSError as err:
        ctl1_parent.close()
        ctl2_parent.close()
        os.close(log_r)
        raise InitFailed(f"start the init helper: {err.strerror}") from None
    finally:
        for fd in {a[1] for a in actions if a[1] >= floor} | {log_w, devnull, mfd}:
            os.close(fd)
        ctl1_child.close()
        ctl2_child.close()
    return Helper(pid, ctl1_parent, ctl2_parent, log_r)


def _reap_h1(pid: int) -> None:
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        code = os.waitstatus_to_exitcode(status)
        raise InitFailed(f"init helper (stage 1) exited with status {code}")


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
    table: dict[tuple[str, int], str] = TRANSITIONS,
    timeout: float = 60.0,
) -> None:
    """Run one exchange to its end (handshake.py draws it), calling back at each step.

    place(h1_pid): put H1 into the cgroups before it clones; on_child(h2_pid) once the
    process exists; on_hooks(h2_pid) for HOOKS; on_ready(h2_pid) before RUN;
    on_userns(h1_pid) writes the id maps of H1's new user namespace.
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
            helper.h2_pid = pkt.u32(p.T_PID)
            on_child(helper.h2_pid)
            helper.send(1, p.MSG_CHILD_ACK)
            _reap_h1(helper.h1_pid)
            helper.h1_pid = 0
        elif pkt.type == p.MSG_HOOKS and on_hooks is not None:
            on_hooks(helper.h2_pid)
            helper.send(2, p.MSG_HOOKS_DONE)
        elif pkt.type == p.MSG_READY:
            on_ready(helper.h2_pid)
            helper.send(2, p.MSG_RUN)
    helper.finish_log(time.monotonic() + 1.0)
