"""The sans-IO codec of the helper protocol: packets, TLVs, the exchange table, log records."""

from __future__ import annotations

import pytest

from shim.errors import InitFailed
from shim.init import protocol as p
from shim.init.handshake import (
    Exchange,
    LogDecoder,
    ProtocolError,
    TlvWriter,
    decode_packet,
    decode_tlvs,
    encode_packet,
)


def _packet(mtype: int, w: TlvWriter | None = None, nfds: int = 0) -> bytes:
    return encode_packet(mtype, w.getvalue() if w else b"", nfds)


def test_tlvs_round_trip_with_padding_to_eight_bytes() -> None:
    w = TlvWriter()
    w.u32(p.T_UID, 1000)
    w.text(p.T_ARG, "sh")
    w.text(p.T_ARG, "-c")
    w.u64(p.T_CAP_BOUNDING, 1 << 40)
    body = w.getvalue()
    assert len(body) % 8 == 0
    fields = decode_tlvs(body)
    assert fields[p.T_ARG] == [b"sh\0", b"-c\0"]
    assert fields[p.T_CAP_BOUNDING] == [p.U64.pack(1 << 40)]


def test_a_string_with_an_embedded_nul_is_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        TlvWriter().text(p.T_ARG, "a\0b")


def test_records_nest_a_tlv_block() -> None:
    rec = TlvWriter()
    rec.text(p.M_DEST, "/proc")
    w = TlvWriter()
    w.record(p.T_MOUNT, rec)
    inner = decode_tlvs(decode_tlvs(w.getvalue())[p.T_MOUNT][0])
    assert inner[p.M_DEST] == [b"/proc\0"]


@pytest.mark.parametrize("cut", [1, 7, 15, 17, 20])
def test_truncated_packets_are_protocol_errors(cut: int) -> None:
    w = TlvWriter()
    w.text(p.T_MESSAGE, "hello world")
    data = _packet(p.MSG_ERROR, w)
    with pytest.raises(ProtocolError):
        decode_packet(data[:cut], 0)


def test_fd_count_must_match_the_header() -> None:
    with pytest.raises(ProtocolError):
        decode_packet(_packet(p.MSG_CHILD, nfds=1), 0)


def test_oversized_packets_are_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="limit"):
        encode_packet(p.MSG_BOOT, b"x" * p.PROTO_MAX_PACKET)


def test_garbage_tlv_lengths_are_protocol_errors() -> None:
    body = p.TLV.pack(p.T_MESSAGE, 0, 10_000) + b"abc"
    with pytest.raises(ProtocolError):
        decode_tlvs(body)


def test_exchange_follows_the_table_for_create() -> None:
    ex = Exchange()
    steps = [p.MSG_HELLO, p.MSG_CHILD, p.MSG_HOOKS, p.MSG_READY, p.MSG_EXEC_PENDING]
    for mtype in steps:
        assert ex.receive(decode_packet(_packet(mtype), 0)) is not None
    assert ex.channel == 2
    ex.receive(None)
    assert ex.done


def test_exchange_refuses_a_message_out_of_order() -> None:
    ex = Exchange()
    with pytest.raises(ProtocolError, match="unexpected message"):
        ex.receive(decode_packet(_packet(p.MSG_READY), 0))


def test_helper_error_becomes_init_failed_with_its_text_and_errno() -> None:
    w = TlvWriter()
    w.u32(p.T_ERRNO, 2)
    w.u32(p.T_STAGE, p.STAGE_H2)
    w.text(p.T_MESSAGE, "mount proc on /proc: No such file or directory")
    with pytest.raises(InitFailed, match="mount proc on /proc") as info:
        Exchange().receive(decode_packet(_packet(p.MSG_ERROR, w), 0))
    assert info.value.errno == 2
    assert info.value.stage == p.STAGE_H2


def test_eof_before_the_end_is_a_failure() -> None:
    with pytest.raises(InitFailed, match="without a word"):
        Exchange().receive(None)


def test_log_records_survive_any_chunking() -> None:
    data = b"".join(p.LOG_RECORD.pack(p.LOG_DEBUG, 2, len(t)) + t for t in (b"one", b"", b"three"))
    for split in range(len(data) + 1):
        dec = LogDecoder()
        got = dec.feed(data[:split]) + dec.feed(data[split:])
        assert got == [(p.LOG_DEBUG, 2, "one"), (p.LOG_DEBUG, 2, ""), (p.LOG_DEBUG, 2, "three")]


def test_exec_exchange_has_no_hooks_step() -> None:
    from shim.init.handshake import EXEC_TRANSITIONS

    ex = Exchange(EXEC_TRANSITIONS)
    for mtype in (p.MSG_HELLO, p.MSG_CHILD):
        ex.receive(decode_packet(_packet(mtype), 0))
    with pytest.raises(ProtocolError):
        ex.receive(decode_packet(_packet(p.MSG_HOOKS), 0))


def test_exec_exchange_runs_to_done() -> None:
    from shim.init.handshake import EXEC_TRANSITIONS

    ex = Exchange(EXEC_TRANSITIONS)
    for mtype in (p.MSG_HELLO, p.MSG_CHILD, p.MSG_READY, p.MSG_EXEC_PENDING):
        ex.receive(decode_packet(_packet(mtype), 0))
    ex.receive(None)
    assert ex.done


@pytest.mark.parametrize(
    ("method", "value"),
    [("u32", -1), ("u32", 1 << 32), ("u32", 4294967296 + 1000), ("u64", -1), ("u64", 1 << 64)],
)
def test_out_of_range_integers_are_refused_never_masked(method: str, value: int) -> None:
    """Masking made uid 4294967296 a 0 on the wire (issue 16): root."""
    with pytest.raises(ValueError, match="does not fit"):
        getattr(TlvWriter(), method)(p.T_UID, value)


def test_integers_at_the_edges_of_their_width_are_written_whole() -> None:
    w = TlvWriter()
    w.u32(p.T_UID, 0xFFFFFFFF)
    w.u64(p.T_CAP_BOUNDING, (1 << 64) - 1)
    fields = decode_tlvs(w.getvalue())
    assert fields[p.T_UID] == [b"\xff" * 4]
    assert fields[p.T_CAP_BOUNDING] == [b"\xff" * 8]
