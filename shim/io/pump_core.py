"""The sans-IO core of a copy pump: its lifecycle as a table, and one chunk's fan-out.

Lifecycle (every legal move is in TRANSITIONS; nobody compares states):

    COPYING --drain--> DRAINING      the process exited: copy what the source still
       |                  |          holds, finish at the first "empty" instead of waiting
       |  eof, stop,      |  eof, empty, stop, sinks_gone, failed, cancelled
       |  sinks_gone,     v
       +- failed, ----> DONE         absorbs everything after; the first reason is kept
          cancelled

"empty" while COPYING means: wait for the source. `drain` is how no byte is lost
when the writer dies with its output still in the pipe, even if a stray
grandchild keeps the pipe's write end (and so its end of file) forever away.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Final


class State(enum.Enum):
    COPYING = "copying"
    DRAINING = "draining"
    DONE = "done"


class Event(enum.Enum):
    EOF = "eof"  # the source ended (all its writers closed, or a pty's slave side is gone)
    EMPTY = "empty"  # nothing to read right now
    DRAIN = "drain"  # request: copy what is buffered, then finish
    STOP = "stop"  # request: finish now, dropping what is in flight
    SINKS_GONE = "sinks_gone"  # every destination failed (EPIPE: its reader went away)
    FAILED = "failed"  # an unexpected error on the source
    CANCELLED = "cancelled"  # the task running the pump was cancelled


_ENDINGS = (Event.EOF, Event.STOP, Event.SINKS_GONE, Event.FAILED, Event.CANCELLED)

TRANSITIONS: Final[Mapping[tuple[State, Event], State]] = {
    (State.COPYING, Event.EMPTY): State.COPYING,
    (State.COPYING, Event.DRAIN): State.DRAINING,
    (State.DRAINING, Event.EMPTY): State.DONE,
    (State.DRAINING, Event.DRAIN): State.DRAINING,
    **{(State.COPYING, e): State.DONE for e in _ENDINGS},
    **{(State.DRAINING, e): State.DONE for e in _ENDINGS},
    **{(State.DONE, e): State.DONE for e in Event},
}


class Lifecycle:
    """Where a pump is, and why it finished (`reason`, None while it runs)."""

    __slots__ = ("reason", "state")

    def __init__(self) -> None:
        self.state = State.COPYING
        self.reason: Event | None = None

    @property
    def done(self) -> bool:
        return self.state is State.DONE

    def fire(self, event: Event) -> State:
        """Apply `event`; return the new state."""
        new = TRANSITIONS[(self.state, event)]
        if new is State.DONE and self.reason is None:
            self.reason = event
        self.state = new
        return new


class Fanout:
    """One chunk on its way to every live sink; the next is read only once all have it.

    This is a pump's memory bound: it never holds more than one chunk. Sinks are
    fds; a sink listed twice is written once.
    """

    __slots__ = ("_chunk", "_offsets")

    def __init__(self, sinks: Sequence[int]) -> None:
        self._offsets: dict[int, int] = dict.fromkeys(sinks, 0)
        self._chunk = memoryview(b"")

    @property
    def sinks(self) -> list[int]:
        """The sinks still alive."""
        return list(self._offsets)

    @property
    def idle(self) -> bool:
        """Every live sink has the whole chunk: ready for the next one."""
        return all(off == len(self._chunk) for off in self._offsets.values())

    @property
    def held(self) -> int:
        """Bytes held in memory for some sink (0 when idle)."""
        return 0 if self.idle else len(self._chunk)

    def load(self, chunk: bytes) -> None:
        """Start delivering `chunk`. Raises ValueError if the last one is not delivered yet."""
        if not self.idle:
            raise ValueError("fanout: a chunk is still being delivered")
        self._chunk = memoryview(chunk)
        self._offsets = dict.fromkeys(self._offsets, 0)

    def pending(self) -> list[tuple[int, memoryview]]:
        """(sink, the bytes it still needs) for every sink not done with the chunk."""
        end = len(self._chunk)
        return [(s, self._chunk[off:]) for s, off in self._offsets.items() if off < end]

    def wrote(self, sink: int, n: int) -> None:
        """`sink` took `n` more bytes. Raises ValueError for an unknown sink or too many bytes."""
        off = self._offsets.get(sink)
        if off is None:
            raise ValueError(f"fanout: fd {sink} is not a live sink")
        if n < 0 or off + n > len(self._chunk):
            raise ValueError(f"fanout: fd {sink} cannot take {n} more bytes")
        self._offsets[sink] = off + n

    def drop(self, sink: int) -> None:
        """`sink` failed: deliver nothing more to it (unknown sinks are ignored)."""
        self._offsets.pop(sink, None)
