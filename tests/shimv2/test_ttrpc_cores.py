"""The sans-IO ttrpc cores fed every split of a byte stream, and garbage."""

from __future__ import annotations

import random

import pytest

from shim.shimv2.proto import ttrpc_pb2
from shim.shimv2.ttrpc_client_core import ClientConnection, Reply
from shim.shimv2.ttrpc_framing import (
    DATA,
    MAX_DATA,
    REQUEST,
    RESPONSE,
    Frame,
    FrameDecoder,
    FrameTooLarge,
    Oversized,
    encode_frame,
)
from shim.shimv2.ttrpc_server_core import (
    Call,
    ProtocolViolation,
    Reject,
    ServerConnection,
    encode_error,
    encode_reply,
)
from shim.shimv2.ttrpc_status import Code


def _request(sid: int, method: str = "State", payload: bytes = b"\x0a\x02t1") -> bytes:
    body = ttrpc_pb2.Request(
        service="containerd.task.v2.Task",
        method=method,
        payload=payload,
        timeout_nano=2_000_000_000,
        metadata=[ttrpc_pb2.KeyValue(key="k", value="v")],
    )
    return encode_frame(sid, REQUEST, body.SerializeToString())


STREAM = _request(1) + _request(3, "Kill") + encode_frame(5, RESPONSE, b"") + _request(7, "Wait")


def _feed_split(decoder: FrameDecoder, data: bytes, cuts: list[int]) -> list[Frame | Oversized]:
    out: list[Frame | Oversized] = []
    start = 0
    for cut in [*cuts, len(data)]:
        out += decoder.feed(data[start:cut])
        start = cut
    return out


def test_decoder_gives_the_same_frames_for_every_two_way_split() -> None:
    whole = FrameDecoder().feed(STREAM)
    assert [f.stream_id for f in whole if isinstance(f, Frame)] == [1, 3, 5, 7]
    for cut in range(len(STREAM) + 1):
        decoder = FrameDecoder()
        assert _feed_split(decoder, STREAM, [cut]) == whole
        assert decoder.pending() == 0


def test_decoder_byte_by_byte_and_random_splits() -> None:
    whole = FrameDecoder().feed(STREAM)
    assert _feed_split(FrameDecoder(), STREAM, list(range(1, len(STREAM)))) == whole
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(STREAM)), rng.randint(1, 8)))
        assert _feed_split(FrameDecoder(), STREAM, cuts) == whole


def test_oversized_body_is_dropped_in_any_split_and_the_next_frame_survives() -> None:
    big = MAX_DATA + 1
    data = big.to_bytes(4, "big") + (9).to_bytes(4, "big") + b"\x01\x00"
    data += b"\xaa" * big + _request(11)
    for cut in (5, 10, 11, 4096, big, big + 10, big + 11, len(data) - 3):
        decoder = FrameDecoder()
        events = _feed_split(decoder, data, [cut])
        assert events[0] == Oversized(9, REQUEST, big)
        assert isinstance(events[1], Frame)
        assert events[1].stream_id == 11
        assert decoder.pending() == 0


def test_decoder_never_buffers_an_oversized_body() -> None:
    decoder = FrameDecoder()
    header = (MAX_DATA * 4).to_bytes(4, "big") + (1).to_bytes(4, "big") + b"\x01\x00"
    decoder.feed(header)
    for _ in range(64):
        decoder.feed(b"\x00" * 65536)
    assert decoder.pending() == MAX_DATA * 4 - 64 * 65536
    assert len(decoder._buf) == 0


def test_encode_refuses_over_the_cap() -> None:
    with pytest.raises(FrameTooLarge):
        encode_frame(1, REQUEST, b"\x00" * (MAX_DATA + 1))
    assert len(encode_frame(1, REQUEST, b"\x00" * MAX_DATA)) == MAX_DATA + 10


def test_server_core_turns_requests_into_calls_for_every_split() -> None:
    expected = [
        Call(1, "containerd.task.v2.Task", "State", b"\x0a\x02t1", 2_000_000_000, (("k", "v"),)),
        Call(3, "containerd.task.v2.Task", "Kill", b"\x0a\x02t1", 2_000_000_000, (("k", "v"),)),
        Call(7, "containerd.task.v2.Task", "Wait", b"\x0a\x02t1", 2_000_000_000, (("k", "v"),)),
    ]
    for cut in range(len(STREAM) + 1):
        conn = ServerConnection()
        events = conn.receive(STREAM[:cut]) + conn.receive(STREAM[cut:])
        assert events == expected
        assert conn.ignored == 1  # the Response frame on stream 5
        conn.eof()


@pytest.mark.parametrize(
    ("data", "code", "text"),
    [
        (_request(2), Code.INVALID_ARGUMENT, "StreamID must be odd for client initiated streams"),
        (encode_frame(1, REQUEST, b"\xff\xff\xff"), Code.INVALID_ARGUMENT, "unmarshal request"),
        (
            (MAX_DATA + 1).to_bytes(4, "big")
            + (1).to_bytes(4, "big")
            + b"\x01\x00"
            + b"\x00" * (MAX_DATA + 1),
            Code.RESOURCE_EXHAUSTED,
            f"message length {MAX_DATA + 1} exceed maximum message size of {MAX_DATA}",
        ),
    ],
)
def test_server_core_rejects_bad_frames_and_keeps_the_connection(
    data: bytes, code: Code, text: str
) -> None:
    conn = ServerConnection()
    (event,) = conn.receive(data)
    assert isinstance(event, Reject)
    assert (event.code, event.message[: len(text)]) == (code, text)
    (call,) = conn.receive(_request(21))
    assert isinstance(call, Call)
    assert call.stream_id == 21


def test_server_core_refuses_reused_and_decreasing_stream_ids() -> None:
    conn = ServerConnection()
    assert isinstance(conn.receive(_request(5))[0], Call)
    for sid in (5, 3, 1):
        (event,) = conn.receive(_request(sid))
        text = "StreamID cannot be re-used and must increment"
        assert event == Reject(sid, Code.INVALID_ARGUMENT, text)
    assert isinstance(conn.receive(_request(7))[0], Call)


def test_server_core_ignores_data_frames() -> None:
    conn = ServerConnection()
    assert conn.receive(encode_frame(1, DATA, b"xyz", flags=1)) == []
    assert conn.ignored == 1


def test_unknown_frame_type_is_a_protocol_violation() -> None:
    conn = ServerConnection()
    with pytest.raises(ProtocolViolation, match="unknown message type 9"):
        conn.receive(encode_frame(1, 9, b""))


@pytest.mark.parametrize("cut", [1, 9, 10, 20])
def test_eof_inside_a_frame_is_truncation(cut: int) -> None:
    conn = ServerConnection()
    conn.receive(_request(1)[:cut])
    with pytest.raises(ProtocolViolation, match="truncated frame"):
        conn.eof()


def test_garbage_bytes_never_raise_anything_but_protocol_violation() -> None:
    rng = random.Random(11)
    for _ in range(300):
        conn = ServerConnection()
        blob = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))
        try:
            for event in conn.receive(blob):
                assert isinstance(event, Call | Reject)
            conn.eof()
        except ProtocolViolation:
            pass


def test_client_core_round_trip_through_the_server_core_for_every_split() -> None:
    client, server = ClientConnection(), ServerConnection()
    sids, wire = [], b""
    for method in ("Connect", "State", "Wait"):
        sid, frame = client.request("containerd.task.v2.Task", method, b"\x0a\x01x", 5)
        sids.append(sid)
        wire += frame
    assert sids == [1, 3, 5]
    calls = server.receive(wire)
    assert [c.method for c in calls if isinstance(c, Call)] == ["Connect", "State", "Wait"]
    answers = encode_reply(5, b"\x08\x01") + encode_error(1, 5, "nope") + encode_reply(3, b"")
    expected = [
        Reply(5, Code.OK, "", b"\x08\x01"),
        Reply(1, Code.NOT_FOUND, "nope", b""),
        Reply(3, Code.OK, "", b""),
    ]
    for cut in range(len(answers) + 1):
        fresh = ClientConnection()
        assert fresh.receive(answers[:cut]) + fresh.receive(answers[cut:]) == expected
        fresh.eof()
