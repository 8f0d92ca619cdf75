"""`shim events --all`: every container under a root, in one stream, without polling.

Lifecycle events come from the observer (observer.py: inotify, pidfds, the kernel's OOM
notifications), as the same typed events the supervisor publishes, and leave as
`{"type": "created"|"started"|"exit"|"paused"|"resumed"|"deleted", "id": ..., "data":
{...}}` lines; OOM kills as runc's `{"type": "oom", "id": ...}`. Every `interval` a
`stats` line (runc's) for each container whose cgroup is still there (the first after
one interval).

    async with all_events(store, interval=5.0) as events:
        async for event in events:          # shim.runtime.container_stats.Event
            ...
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import anyio
import msgspec

from shim.errors import ShimError
from shim.runtime.container_stats import OOM, Event, live_pid, stats_event
from shim.supervisor import events as ev
from shim.supervisor.observer import RootObserver

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from shim.runtime.state_store import StateStore

BUFFER = 64  # events queued for a slow reader before producers wait


def as_line(event: ev.Event) -> Event:
    """A lifecycle event as an `events` line (OOM keeps runc's shape: no data)."""
    if isinstance(event, ev.Oom):
        return Event(OOM, event.id)
    fields = msgspec.to_builtins(event)
    assert isinstance(fields, dict)
    kind = str(fields.pop("type"))
    fields.pop("id")
    return Event(kind, event.id, fields)


@asynccontextmanager
async def all_events(
    store: StateStore, interval: float
) -> AsyncIterator[MemoryObjectReceiveStream[Event]]:
    """Every container's events under `store`, merged; new ones join as they appear."""
    bus = ev.EventBus()
    observer = RootObserver(store, bus)
    lifecycle = bus.subscribe()
    send, receive = anyio.create_memory_object_stream[Event](BUFFER)
    async with anyio.create_task_group() as tg:
        tg.start_soon(observer.run)
        tg.start_soon(_forward, lifecycle, send.clone())
        tg.start_soon(_stats, store, observer, interval, send)
        async with receive:
            yield receive
        tg.cancel_scope.cancel()


async def _forward(
    lifecycle: MemoryObjectReceiveStream[ev.Event], send: MemoryObjectSendStream[Event]
) -> None:
    async with lifecycle, send:
        async for event in lifecycle:
            try:
                await send.send(as_line(event))
            except anyio.BrokenResourceError:
                return  # the reader left


async def _stats(
    store: StateStore,
    observer: RootObserver,
    interval: float,
    send: MemoryObjectSendStream[Event],
) -> None:
    async with send:
        while True:
            await anyio.sleep(interval)
            for state, manager in observer.followed():
                if not manager.exists():
                    continue
                try:
                    event = stats_event(state.id, manager, live_pid(state))
                except ShimError:
                    continue  # removed while we read it
                try:
                    await send.send(event)
                except anyio.BrokenResourceError:
                    return
