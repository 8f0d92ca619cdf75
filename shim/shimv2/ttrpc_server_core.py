"""The server side of one ttrpc connection, sans-IO: bytes in, calls and rejections out.

What containerd's ttrpc server does with each frame (server.go, services.go), and ours:

    over 4 MiB            -> the body is dropped, that stream answered ResourceExhausted
    even stream id        -> InvalidArgument "StreamID must be odd for client initiated streams"
    Data / Response frame -> ignored (unary only: containerd 1.6's ttrpc 1.1 ignores them too)
    id not above the last -> InvalidArgument "StreamID cannot be re-used and must increment"
    undecodable Request   -> InvalidArgument "unmarshal request error: ..."
    unknown frame type    -> ProtocolViolation: the framing is lost, the shell closes the connection
    EOF inside a frame    -> ProtocolViolation (truncated), from `eof()`

Rejections keep the connection; only a ProtocolViolation ends it.
"""

from __future__ import annotations

from typing import NamedTuple

from google.protobuf.message import DecodeError

from shim.shimv2.proto import rpc_status_pb2, ttrpc_pb2
from shim.shimv2.ttrpc_framing import (
    KNOWN_TYPES,
    MAX_DATA,
    REQUEST,
    RESPONSE,
    FrameDecoder,
    Oversized,
    encode_frame,
)
from shim.shimv2.ttrpc_status import Code


class Call(NamedTuple):
    stream_id: int
    service: str
    method: str
    payload: bytes
    timeout_nano: int
    metadata: tuple[tuple[str, str], ...]


class Reject(NamedTuple):
    """A frame answered with an error status and no call."""

    stream_id: int
    code: int
    message: str


class ProtocolViolation(Exception):
    """The byte stream is not ttrpc any more (or ended inside a frame): close the connection."""


class ServerConnection:
    def __init__(self) -> None:
        self._decoder = FrameDecoder()
        self._last_stream_id = 0
        self.ignored = 0  # frames of other types skipped (Data, Response)

    def receive(self, chunk: bytes) -> list[Call | Reject]:
        """Feed bytes from the peer. Raises ProtocolViolation on an unknown frame type."""
        out: list[Call | Reject] = []
        for event in self._decoder.feed(chunk):
            if isinstance(event, Oversized):
                text = f"message length {event.length} exceed maximum message size of {MAX_DATA}"
                out.append(Reject(event.stream_id, Code.RESOURCE_EXHAUSTED, text))
            elif event.kind not in KNOWN_TYPES:
                raise ProtocolViolation(
                    f"unknown message type {event.kind} on stream {event.stream_id}"
                )
            elif event.stream_id % 2 != 1:
                text = "StreamID must be odd for client initiated streams"
                out.append(Reject(event.stream_id, Code.INVALID_ARGUMENT, text))
            elif event.kind != REQUEST:
                self.ignored += 1
            elif event.stream_id <= self._last_stream_id:
                text = "StreamID cannot be re-used and must increment"
                out.append(Reject(event.stream_id, Code.INVALID_ARGUMENT, text))
            else:
                self._last_stream_id = event.stream_id
                out.append(_decode_request(event.stream_id, event.data))
        return out

    def eof(self) -> None:
        """The peer closed its side. Raises ProtocolViolation if it stopped inside a frame."""
        if pending := self._decoder.pending():
            raise ProtocolViolation(f"truncated frame: connection closed with {pending} bytes due")


def _decode_request(stream_id: int, data: bytes) -> Call | Reject:
    request = ttrpc_pb2.Request()
    try:
        request.ParseFromString(data)
    except DecodeError as err:
        return Reject(stream_id, Code.INVALID_ARGUMENT, f"unmarshal request error: {err}")
    metadata = tuple((kv.key, kv.value) for kv in request.metadata)
    return Call(
        stream_id,
        request.service,
        request.method,
        request.payload,
        request.timeout_nano,
        metadata,
    )


def encode_reply(stream_id: int, payload: bytes) -> bytes:
    """An OK Response frame. An empty payload (google.protobuf.Empty) is a zero-length frame."""
    response = ttrpc_pb2.Response(payload=payload)
    return encode_frame(stream_id, RESPONSE, response.SerializeToString())


def encode_error(stream_id: int, code: int, message: str) -> bytes:
    status = rpc_status_pb2.Status(code=code, message=message)
    return encode_frame(stream_id, RESPONSE, ttrpc_pb2.Response(status=status).SerializeToString())
