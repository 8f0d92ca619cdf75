"""The sans-IO core of a pump: its lifecycle table and one chunk's fan-out."""

from __future__ import annotations

import itertools

import pytest

from shim.io.pump_core import TRANSITIONS, Event, Fanout, Lifecycle, State


def test_every_state_has_a_move_for_every_event() -> None:
    assert set(TRANSITIONS) == set(itertools.product(State, Event))


def test_empty_waits_while_copying_and_ends_a_drain() -> None:
    life = Lifecycle()
    assert life.fire(Event.EMPTY) is State.COPYING
    assert life.fire(Event.DRAIN) is State.DRAINING
    assert life.fire(Event.DRAIN) is State.DRAINING
    assert life.reason is None
    assert life.fire(Event.EMPTY) is State.DONE
    assert life.reason is Event.EMPTY


@pytest.mark.parametrize("start", [State.COPYING, State.DRAINING])
@pytest.mark.parametrize(
    "ending", [Event.EOF, Event.STOP, Event.SINKS_GONE, Event.FAILED, Event.CANCELLED]
)
def test_endings_finish_from_any_live_state(start: State, ending: Event) -> None:
    life = Lifecycle()
    if start is State.DRAINING:
        life.fire(Event.DRAIN)
    assert life.fire(ending) is State.DONE
    assert life.done
    assert life.reason is ending


def test_done_absorbs_later_requests_and_keeps_the_first_reason() -> None:
    life = Lifecycle()
    life.fire(Event.EOF)
    for event in Event:
        assert life.fire(event) is State.DONE
    assert life.reason is Event.EOF


def test_fanout_delivers_every_split_of_a_chunk_to_every_sink() -> None:
    chunk = bytes(range(7))
    for a in range(len(chunk) + 1):
        for b in range(len(chunk) + 1):
            fan = Fanout([10, 11])
            fan.load(chunk)
            got = {10: bytearray(), 11: bytearray()}
            for sink, first in ((10, a), (11, b)):
                view = dict(fan.pending())[sink]
                got[sink] += view[:first]
                fan.wrote(sink, first)
            assert fan.idle is (a == b == len(chunk))
            for sink, view in fan.pending():
                got[sink] += view
                fan.wrote(sink, len(view))
            assert fan.idle
            assert got == {10: bytearray(chunk), 11: bytearray(chunk)}


def test_fanout_holds_one_chunk_at_most() -> None:
    fan = Fanout([3])
    assert fan.idle
    assert fan.held == 0
    fan.load(b"x" * 100)
    assert fan.held == 100
    with pytest.raises(ValueError, match="still being delivered"):
        fan.load(b"more")
    fan.wrote(3, 100)
    assert fan.held == 0


def test_fanout_drops_a_failed_sink_and_the_others_go_on() -> None:
    fan = Fanout([3, 4])
    fan.load(b"abc")
    fan.drop(4)
    fan.drop(99)  # unknown: ignored
    assert fan.sinks == [3]
    assert [(s, bytes(v)) for s, v in fan.pending()] == [(3, b"abc")]
    fan.wrote(3, 3)
    assert fan.idle


def test_fanout_with_no_sinks_is_idle() -> None:
    fan = Fanout([])
    fan.load(b"abc")
    assert fan.idle
    assert fan.pending() == []


def test_fanout_writes_a_repeated_sink_once() -> None:
    fan = Fanout([5, 5])
    fan.load(b"ab")
    assert len(fan.pending()) == 1


@pytest.mark.parametrize(("sink", "n"), [(3, 4), (3, -1), (9, 1)])
def test_fanout_refuses_garbage_counts(sink: int, n: int) -> None:
    fan = Fanout([3])
    fan.load(b"abc")
    with pytest.raises(ValueError, match="fanout"):
        fan.wrote(sink, n)
    assert fan.pending()[0][1].tobytes() == b"abc"
