"""ttrpc frames, sans-IO: a 10-byte big-endian header, then at most 4 MiB of protobuf.

    0-3 length (excluding the header)   4-7 stream id   8 type   9 flags

Clients open odd stream ids, strictly increasing; unary calls are one Request frame
and one Response frame on the same id (containerd/ttrpc PROTOCOL.md, channel.go).
A frame longer than the cap is never buffered: its body is dropped as it arrives and
the stream gets ResourceExhausted, as containerd's ttrpc does; the connection lives on.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

HEADER = struct.Struct(">IIBB")  # length, stream id, type, flags
MAX_DATA = 4 << 20  # containerd's messageLengthMax

REQUEST, RESPONSE, DATA = 1, 2, 3
KNOWN_TYPES = frozenset((REQUEST, RESPONSE, DATA))


class Frame(NamedTuple):
    stream_id: int
    kind: int
    flags: int
    data: bytes


class Oversized(NamedTuple):
    """A frame whose body exceeded MAX_DATA; the body was (or is being) dropped."""

    stream_id: int
    kind: int
    length: int


class FrameTooLarge(ValueError):
    """A message over MAX_DATA: the peer would drop it, so it is never sent."""


def encode_frame(stream_id: int, kind: int, data: bytes, flags: int = 0) -> bytes:
    """One frame. Raises FrameTooLarge if `data` is over the cap."""
    if len(data) > MAX_DATA:
        raise FrameTooLarge(f"ttrpc: message length {len(data)} exceeds maximum of {MAX_DATA}")
    return HEADER.pack(len(data), stream_id, kind, flags) + data


class FrameDecoder:
    """Bytes in, frames out, for any split of the stream."""

    def __init__(self) -> None:
        self._buf, self._skip = bytearray(), 0  # _skip: oversized body bytes still to drop

    def feed(self, chunk: bytes) -> list[Frame | Oversized]:
        self._buf += chunk
        events: list[Frame | Oversized] = []
        while True:
            dropped = min(self._skip, len(self._buf))
            del self._buf[:dropped]
            self._skip -= dropped
            if self._skip or len(self._buf) < HEADER.size:
                return events
            length, sid, kind, flags = HEADER.unpack_from(self._buf)
            end = HEADER.size + length
            if length > MAX_DATA:  # the stream gets ResourceExhausted; the connection lives on
                del self._buf[: HEADER.size]
                self._skip = length
                events.append(Oversized(sid, kind, length))
            elif len(self._buf) < end:
                return events
            else:
                events.append(Frame(sid, kind, flags, bytes(self._buf[HEADER.size : end])))
                del self._buf[:end]

    def pending(self) -> int:
        """Bytes of an unfinished frame (buffered or still to drop): at EOF, truncation."""
        return len(self._buf) + self._skip
