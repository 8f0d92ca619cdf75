"""runc's `events ID`: stats and OOM events of one container, as an anyio stream (asyncio
or trio). (`events --all`, every container with its lifecycle too, is
shim.supervisor.all_events.)

    async with container_events(store, "c1", interval=5.0) as events:
        async for event in events:          # Event("stats"|"oom", id, data)
            ...

`container_events` ends when the container's state or memory cgroup goes away
(`delete`); it keeps going while the container is merely stopped, as runc does. A
stats event comes every `interval` (the first after one interval); an OOM event the
moment the kernel reports an OOM kill (v1 eventfd, v2 inotify: `shim.cgroups.oom`).
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

import anyio

from shim.errors import ShimError
from shim.runtime.container import Container
from shim.runtime.container_stats import OOM, Event, live_pid, stats_event

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from anyio.abc import ObjectSendStream
    from anyio.streams.memory import MemoryObjectReceiveStream

    from shim.cgroups.manager import Manager
    from shim.cgroups.oom import OomWatch
    from shim.runtime.state_store import State, StateStore

SCAN_INTERVAL = 0.25  # seconds between looks at --root for new containers
BUFFER = 64  # events queued for a slow reader before producers wait


@asynccontextmanager
async def container_events(
    store: StateStore, container_id: str, interval: float
) -> AsyncIterator[MemoryObjectReceiveStream[Event]]:
    """One container's events. Raises `NotFound`, or `WrongState` with runc's text
    (`container with id ID is not running`) when it has stopped already."""
    with Container.open(store, container_id) as target:
        target.require("events")
        state = target.state
    send, receive = anyio.create_memory_object_stream[Event](BUFFER)
    async with anyio.create_task_group() as tg:
        tg.start_soon(watch_container, store, state, interval, send)
        async with receive:
            yield receive
        tg.cancel_scope.cancel()


async def watch_container(
    store: StateStore, state: State, interval: float, send: ObjectSendStream[Event]
) -> None:
    """Send `state`'s container's events into `send` until it is deleted; closes `send`."""
    from shim.cgroups.manager import manager_for

    async with send:
        if not state.cgroup_paths:
            return
        manager = manager_for(state.cgroup_paths)
        state_file = os.path.join(store.root, state.id, "state.json")
        watch = _open_oom_watch(manager)
        try:
            async with anyio.create_task_group() as tg:
                if watch is not None:
                    tg.start_soon(_oom_loop, state.id, watch, send, tg.cancel_scope)
                await _stats_loop(state, manager, state_file, interval, send)
                tg.cancel_scope.cancel()
        finally:
            if watch is not None:
                watch.close()


def _open_oom_watch(manager: Manager) -> OomWatch | None:
    if manager.mode != "v2" and "memory" not in manager.paths:
        return None  # no memory controller: nothing can report an OOM
    try:
        return manager.oom_watch()
    except ShimError:
        return None  # the cgroup is gone already; the stats loop notices and ends


async def _oom_loop(
    container_id: str, watch: OomWatch, send: ObjectSendStream[Event], done: anyio.CancelScope
) -> None:
    while True:
        await anyio.wait_readable(watch.fileno())
        count = watch.read()
        if count is None:  # the memory cgroup was removed: the container is gone
            done.cancel()
            return
        for _ in range(count):
            if not await _deliver(send, Event(OOM, container_id)):
                done.cancel()
                return


async def _stats_loop(
    state: State, manager: Manager, state_file: str, interval: float, send: ObjectSendStream[Event]
) -> None:
    while True:
        await anyio.sleep(interval)
        if _gone(state_file, manager):
            return
        try:
            event = stats_event(state.id, manager, live_pid(state))
        except ShimError:
            if not manager.exists():
                return  # removed while we read it
            raise
        if not await _deliver(send, event):
            return


async def _deliver(send: ObjectSendStream[Event], event: Event) -> bool:
    """Send; False once the reader has gone (its end closed), which ends the producer."""
    try:
        await send.send(event)
    except anyio.BrokenResourceError:
        return False
    return True


def _gone(state_file: str, manager: Manager) -> bool:
    return not (os.path.exists(state_file) and manager.exists())
