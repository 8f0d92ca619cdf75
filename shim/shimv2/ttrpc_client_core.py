"""The client side of one ttrpc connection, sans-IO: requests out, replies in.

Stream ids are odd and increase by two from 1. A reply whose body was over the cap
is reported as ResourceExhausted for its stream; an unknown frame type, or EOF
inside a frame, raises ProtocolViolation.
"""

from __future__ import annotations

from typing import NamedTuple

from google.protobuf.message import DecodeError

from shim.shimv2.proto import ttrpc_pb2
from shim.shimv2.ttrpc_framing import KNOWN_TYPES, REQUEST, RESPONSE, FrameDecoder, Oversized
from shim.shimv2.ttrpc_framing import encode_frame as _frame
from shim.shimv2.ttrpc_server_core import ProtocolViolation
from shim.shimv2.ttrpc_status import Code


class Reply(NamedTuple):
    stream_id: int
    code: int  # Code.OK for success
    message: str
    payload: bytes


class ClientConnection:
    def __init__(self) -> None:
        self._decoder = FrameDecoder()
        self._next_stream_id = 1

    def request(
        self,
        service: str,
        method: str,
        payload: bytes,
        timeout_nano: int = 0,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> tuple[int, bytes]:
        """(stream id, frame bytes) of a new call. Raises ValueError if it is over the cap."""
        request = ttrpc_pb2.Request(
            service=service,
            method=method,
            payload=payload,
            timeout_nano=timeout_nano,
            metadata=[ttrpc_pb2.KeyValue(key=k, value=v) for k, v in metadata],
        )
        stream_id = self._next_stream_id
        frame = _frame(stream_id, REQUEST, request.SerializeToString())
        self._next_stream_id += 2
        return stream_id, frame

    def receive(self, chunk: bytes) -> list[Reply]:
        out: list[Reply] = []
        for event in self._decoder.feed(chunk):
            if isinstance(event, Oversized):
                text = f"response of {event.length} bytes over the ttrpc limit"
                out.append(Reply(event.stream_id, Code.RESOURCE_EXHAUSTED, text, b""))
            elif event.kind not in KNOWN_TYPES:
                raise ProtocolViolation(f"unknown message type {event.kind}")
            elif event.kind == RESPONSE:
                out.append(_decode_response(event.stream_id, event.data))
        return out

    def eof(self) -> None:
        if pending := self._decoder.pending():
            raise ProtocolViolation(f"truncated frame: connection closed with {pending} bytes due")


def _decode_response(stream_id: int, data: bytes) -> Reply:
    response = ttrpc_pb2.Response()
    try:
        response.ParseFromString(data)
    except DecodeError as err:
        return Reply(stream_id, Code.INTERNAL, f"unmarshal response error: {err}", b"")
    if response.HasField("status") and response.status.code != Code.OK:
        return Reply(stream_id, response.status.code, response.status.message, b"")
    return Reply(stream_id, Code.OK, "", response.payload)
