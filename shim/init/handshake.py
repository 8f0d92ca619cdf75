"""The parent's side of the init-helper protocol, sans I/O.

Packets in and out are bytes; `Exchange` says which packet may come next.
The shell (`init/spawn.py`) owns sockets, fds and deadlines.

    P                                H1 (ctl1)                H2 (ctl2)
    |<-------- HELLO ----------------|
    |  (P puts H1 into the cgroups)
    |--------- BOOT (+ ns fds) ----->|
    |<-------- USERNS_READY ---------|  (only with a new user namespace)
    |--------- USERNS_MAPPED ------->|  (after P wrote /proc/H1/{setgroups,uid_map,gid_map})
    |<-------- CHILD (H2 pid) -------|---- clone ------------>|
    |--------- CHILD_ACK ----------->| exits 0
    |<---------------------------- MOUNT_REQ (index) ---------|  (binds in a user namespace)
    |---------------------------- MOUNT_FD (+ fd) ---------->|  (P opened the source)
    |<---------------------------- HOOKS (if asked) ----------|
    |---------------------------- HOOKS_DONE --------------->|  (after prestart, createRuntime)
    |<---------------------------- READY ---------------------|
    |---------------------------- RUN ---------------------->|  (after prlimit)
    |<---------------------------- SECCOMP_FD (+ fd) ---------|  (notify filters only)
    |---------------------------- SECCOMP_ACK -------------->|  (after listenerPath got it)
    |<---------------------------- EXEC_PENDING --------------|
    |<---------------------------- EOF -----------------------|  H2 waits on the exec fifo
    ERROR from either: the helper failed; it exits 1 after sending.
"""

from __future__ import annotations

from shim.errors import InitFailed
from shim.init import protocol as p

EOF = 0  # pseudo message type: the channel closed

# (step, message) -> next step. Anything else is a protocol error.
TRANSITIONS: dict[tuple[str, int], str] = {
    ("hello", p.MSG_HELLO): "child",
    ("child", p.MSG_USERNS_READY): "child",  # a new user namespace: P writes the id maps
    ("child", p.MSG_CHILD): "init",
    ("init", p.MSG_MOUNT_REQ): "init",  # a bind source the container's user cannot reach
    ("init", p.MSG_HOOKS): "hooked",
    ("init", p.MSG_READY): "ready",
    ("hooked", p.MSG_READY): "ready",
    ("ready", p.MSG_SECCOMP_FD): "ready",  # a notify filter's listener, for listenerPath
    ("ready", p.MSG_EXEC_PENDING): "pending",
    ("pending", EOF): "done",
}
# exec: the same without HOOKS (the process joins a container that is already built).
EXEC_TRANSITIONS: dict[tuple[str, int], str] = {
    k: v
    for k, v in TRANSITIONS.items()
    if k[1] not in (p.MSG_HOOKS, p.MSG_MOUNT_REQ) and k[0] != "hooked"
}
CHANNEL: dict[str, int] = {"hello": 1, "child": 1, "init": 2, "hooked": 2, "ready": 2, "pending": 2}


class ProtocolError(InitFailed):
    """The helper sent something the protocol does not allow."""


class Packet:
    __slots__ = ("fds", "fields", "type")

    def __init__(
        self, mtype: int, fields: dict[int, list[bytes]], fds: list[int] | None = None
    ) -> None:
        self.type = mtype
        self.fields = fields
        self.fds = fds or []  # received with SCM_RIGHTS; whoever handles the packet closes them

    def u32(self, tag: int, default: int = 0) -> int:
        values = self.fields.get(tag)
        if not values:
            return default
        if len(values[0]) != 4:
            raise ProtocolError(f"message {self.type}: tag {tag} is not a u32")
        return int(p.U32.unpack(values[0])[0])

    def text(self, tag: int, default: str = "") -> str:
        values = self.fields.get(tag)
        if not values:
            return default
        return values[0].rstrip(b"\0").decode("utf-8", "replace")


class TlvWriter:
    """Builds a TLV block. Strings travel with a trailing NUL; an embedded NUL is refused."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def raw(self, tag: int, value: bytes) -> None:
        pad = -len(value) % 8
        self._parts.append(p.TLV.pack(tag, 0, len(value)) + value + b"\0" * pad)

    def u32(self, tag: int, value: int) -> None:
        """ValueError out of range: a masked uid 4294967296 would be 0, i.e. root."""
        if not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"value {value} of tag {tag} does not fit in 32 bits")
        self.raw(tag, p.U32.pack(value))

    def u64(self, tag: int, value: int) -> None:
        if not 0 <= value <= 0xFFFFFFFFFFFFFFFF:
            raise ValueError(f"value {value} of tag {tag} does not fit in 64 bits")
        self.raw(tag, p.U64.pack(value))

    def text(self, tag: int, value: str | bytes) -> None:
        data = value.encode() if isinstance(value, str) else value
        if b"\0" in data:
            raise ValueError(f"string with an embedded NUL byte: {data[:40]!r}")
        self.raw(tag, data + b"\0")

    def record(self, tag: int, block: TlvWriter) -> None:
        self.raw(tag, block.getvalue())

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


def encode_packet(mtype: int, body: bytes = b"", nfds: int = 0) -> bytes:
    size = p.HEADER.size + len(body)
    if size > p.PROTO_MAX_PACKET:
        raise ValueError(f"message of {size} bytes is over the {p.PROTO_MAX_PACKET}-byte limit")
    return p.HEADER.pack(size, mtype, 0, 0, nfds) + body


def decode_tlvs(body: bytes) -> dict[int, list[bytes]]:
    fields: dict[int, list[bytes]] = {}
    pos, end = 0, len(body)
    while pos < end:
        if end - pos < p.TLV.size:
            raise ProtocolError("truncated TLV header")
        tag, _flags, vlen = p.TLV.unpack_from(body, pos)
        pos += p.TLV.size
        if vlen > end - pos:
            raise ProtocolError(f"TLV {tag} runs past the packet")
        fields.setdefault(tag, []).append(body[pos : pos + vlen])
        pos += min(vlen + (-vlen % 8), end - pos)
    return fields


def decode_packet(data: bytes, nfds: int) -> Packet:
    if len(data) < p.HEADER.size:
        raise ProtocolError(f"short packet of {len(data)} bytes")
    size, mtype, _flags, _seq, want_fds = p.HEADER.unpack_from(data)
    if size != len(data) or want_fds != nfds:
        raise ProtocolError(
            f"packet header says {size} bytes/{want_fds} fds, got {len(data)}/{nfds}"
        )
    return Packet(mtype, decode_tlvs(data[p.HEADER.size :]))


def error_of(packet: Packet) -> InitFailed:
    errno = packet.u32(p.T_ERRNO)
    message = packet.text(p.T_MESSAGE, "unknown error")
    return InitFailed(f"unable to start container process: {message}", errno, packet.u32(p.T_STAGE))


class Exchange:
    """Which message may come next, on which channel. Feed it what arrived."""

    __slots__ = ("step", "table")

    def __init__(self, table: dict[tuple[str, int], str] = TRANSITIONS) -> None:
        self.step = "hello"
        self.table = table

    @property
    def channel(self) -> int:
        return CHANNEL[self.step]

    @property
    def done(self) -> bool:
        return self.step == "done"

    def receive(self, packet: Packet | None) -> Packet | None:
        """Advance on a packet (None: EOF). Raises the helper's error, or ProtocolError."""
        if packet is not None and packet.type == p.MSG_ERROR:
            raise error_of(packet)
        mtype = EOF if packet is None else packet.type
        nxt = self.table.get((self.step, mtype))
        if nxt is None:
            if packet is None:
                raise InitFailed(
                    "unable to start container process: init helper exited without a word"
                )
            raise ProtocolError(
                f"unexpected message {mtype} from the init helper at step {self.step}"
            )
        self.step = nxt
        return packet


class LogDecoder:
    """Splits the helper's log pipe into (level, stage, text) records, whatever the chunking."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[tuple[int, int, str]]:
        self._buf += chunk
        out: list[tuple[int, int, str]] = []
        while len(self._buf) >= p.LOG_RECORD.size:
            level, stage, n = p.LOG_RECORD.unpack_from(self._buf)
            end = p.LOG_RECORD.size + n
            if len(self._buf) < end:
                break
            out.append(
                (level, stage, self._buf[p.LOG_RECORD.size : end].decode("utf-8", "replace"))
            )
            del self._buf[:end]
        return out
