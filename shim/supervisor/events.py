"""The supervisor's lifecycle events, and the bus that hands them to every subscriber.

One typed stream, in containerd's order (spec/containerd-shim-v2.md section 8.3):
a container's `Created` comes first, its `Started` before any `Exited` of the init,
an exec's `ExecAdded` before its `ExecStarted` before its `Exited`, every exec's
`Exited` before the init's, and `Deleted` last. `Oom`, `Paused` and `Resumed` come
when they happen. The containerd shim turns them into /tasks/* events; `shim events`
prints them as JSON lines.

Subscribers get an unbounded stream: publishing never blocks the supervisor and never
drops an event; a subscriber that stops reading should unsubscribe (close its end).
"""

from __future__ import annotations

import math

import anyio
import msgspec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from shim.cgroups.oom import OomWatch


class Event(msgspec.Struct, frozen=True, tag_field="type"):
    """Base of every lifecycle event: which container it is about."""

    id: str


class Created(Event, frozen=True, tag="created"):
    pid: int
    bundle: str


class Started(Event, frozen=True, tag="started"):
    pid: int


class Exited(Event, frozen=True, tag="exit"):
    """A process ended: the init (`exec_id` "") or an exec'd one. `status` is the exit
    code or 128+signal; `exited_at` is when it was reaped (ns since the epoch)."""

    exec_id: str
    pid: int
    status: int
    exited_at: int


class Deleted(Event, frozen=True, tag="deleted"):
    pid: int
    status: int
    exited_at: int


class Oom(Event, frozen=True, tag="oom"):
    """The kernel OOM-killed a process in the container's memory cgroup."""


class ExecAdded(Event, frozen=True, tag="exec-added"):
    exec_id: str


class ExecStarted(Event, frozen=True, tag="exec-started"):
    exec_id: str
    pid: int


class Paused(Event, frozen=True, tag="paused"):
    pass


class Resumed(Event, frozen=True, tag="resumed"):
    pass


AnyEvent = Created | Started | Exited | Deleted | Oom | ExecAdded | ExecStarted | Paused | Resumed


class EventBus:
    """Fans each published event out to every current subscriber, in publish order."""

    def __init__(self) -> None:
        self._subscribers: list[MemoryObjectSendStream[Event]] = []
        self._listeners: list[Callable[[Event], None]] = []

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """Call `listener(event)` synchronously at each publish, before the supervisor goes
        on (a listener that queues an exit has queued it before any Wait returns)."""
        self._listeners.append(listener)

    def subscribe(self) -> MemoryObjectReceiveStream[Event]:
        """A stream of every event published from now on; close it to unsubscribe."""
        send, receive = anyio.create_memory_object_stream[Event](math.inf)
        self._subscribers.append(send)
        return receive

    def publish(self, event: Event) -> None:
        for listener in self._listeners:
            listener(event)
        for send in list(self._subscribers):
            try:
                send.send_nowait(event)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                self._subscribers.remove(send)  # its reader closed: unsubscribed

    def close(self) -> None:
        """End every subscriber's stream (the supervisor is shutting down)."""
        for send in self._subscribers:
            send.close()
        self._subscribers.clear()


def to_json(event: Event) -> bytes:
    return msgspec.json.encode(event)


async def relay_ooms(container_id: str, watch: OomWatch, bus: EventBus) -> None:
    """Publish an Oom for every kill the watch counts, until its cgroup is removed (or the
    caller cancels); the watch is closed in the end."""
    try:
        while True:
            await anyio.wait_readable(watch.fileno())
            count = watch.read()
            if count is None:
                return  # the memory cgroup was removed
            for _ in range(count):
                bus.publish(Oom(container_id))
    finally:
        watch.close()
