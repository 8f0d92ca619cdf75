"""Lifecycle events of containers that other processes run, from what the kernel shows.

`shim events --all` is not the process that runs the containers (one-shot commands and
other supervisors are): it watches the state root and publishes the same typed events
(shim.supervisor.events) the in-process supervisor publishes, onto an EventBus:

    Created    the container's state.json appears        inotify on --root and its dirs
    Started    its exec.fifo goes away                    inotify
    Exited     its init's pidfd turns readable            status -1: only a parent knows it
    Paused     its cgroup freezes, Resumed when it thaws  v2: inotify on cgroup.events;
                                                           v1: freezer.state read every
                                                           FREEZER_POLL s
    Oom        the kernel OOM-kills in it                 v1 eventfd, v2 memory.events
    Deleted    its state directory goes away              inotify

A container found already running is announced as it is now (Created, then Started or
Paused). Nothing is polled but the v1 freezer, which has no notification (and only
while a container with one is followed).
"""

from __future__ import annotations

import os
import struct
import time

import anyio

from shim.errors import ShimError
from shim.supervisor.events import (
    Created,
    Deleted,
    EventBus,
    Exited,
    Paused,
    Resumed,
    Started,
    relay_ooms,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from shim.cgroups.manager import Manager
    from shim.runtime.state_store import State, StateStore

IN_MODIFY, IN_MOVED_TO, IN_CREATE = 0x2, 0x80, 0x100
IN_DELETE, IN_DELETE_SELF, IN_IGNORED, IN_ONLYDIR = 0x200, 0x400, 0x8000, 0x01000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then the name, NUL-padded)
STATE_FILE, FIFO = "state.json", "exec.fifo"
FREEZER_POLL = 0.25


def parse_inotify(data: bytes) -> list[tuple[int, int, str]]:
    """(wd, mask, name) of each event in a read of an inotify fd (sans-IO)."""
    out, pos = [], 0
    while pos + _EVENT.size <= len(data):
        wd, mask, _cookie, size = _EVENT.unpack_from(data, pos)
        raw = data[pos + _EVENT.size : pos + _EVENT.size + size]
        out.append((wd, mask, raw.rstrip(b"\0").decode(errors="replace")))
        pos += _EVENT.size + size
    return out


class _Watched:
    """One container being followed."""

    def __init__(self, container_id: str, wd: int) -> None:
        self.id = container_id
        self.wd = wd  # its directory's watch
        self.state: State | None = None
        self.manager: Manager | None = None
        self.frozen = False
        self.events_wd = -1  # v2 cgroup.events
        self.scope = anyio.CancelScope()


class RootObserver:
    """Publishes `store`'s containers' lifecycle onto `bus`. `run()` until cancelled."""

    def __init__(self, store: StateStore, bus: EventBus) -> None:
        self.store = store
        self.bus = bus
        self._by_id: dict[str, _Watched] = {}
        self._by_wd: dict[int, _Watched] = {}
        self._fd = -1
        self._root_wd = -1
        self._tg: TaskGroup | None = None

    async def run(self) -> None:
        from shim.sys import inotify_add_watch, inotify_init

        self.store.ensure_root()
        self._fd = inotify_init()
        try:
            self._root_wd = inotify_add_watch(
                self._fd, self.store.root, IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_ONLYDIR
            )
            async with anyio.create_task_group() as tg:
                self._tg = tg
                for name in self.store.ids():
                    self._follow_dir(name)
                tg.start_soon(self._poll_v1_freezers)
                while True:
                    await anyio.wait_readable(self._fd)
                    self._dispatch(self._read())
        finally:
            os.close(self._fd)
            self._fd = -1

    def followed(self) -> list[tuple[State, Manager]]:
        """The containers followed now that have cgroups: (state, cgroup manager)."""
        return [
            (w.state, w.manager)
            for w in self._by_id.values()
            if w.state is not None and w.manager is not None
        ]

    def tick(self) -> None:
        """Look at what has no notification (the v1 freezer)."""
        for watched in list(self._by_id.values()):
            if watched.manager is not None and watched.events_wd < 0:
                self._check_frozen(watched)

    async def _poll_v1_freezers(self) -> None:
        while True:
            await anyio.sleep(FREEZER_POLL)
            self.tick()

    # -- inotify ---------------------------------------------------------------------

    def _read(self) -> list[tuple[int, int, str]]:
        try:
            return parse_inotify(os.read(self._fd, 65536))
        except BlockingIOError:
            return []

    def _dispatch(self, events: list[tuple[int, int, str]]) -> None:
        for wd, mask, name in events:
            if wd == self._root_wd:
                if mask & (IN_CREATE | IN_MOVED_TO):
                    self._follow_dir(name)
                elif mask & IN_DELETE:
                    self._gone(name)
                continue
            watched = self._by_wd.get(wd)
            if watched is None:
                continue
            if wd == watched.events_wd and mask & IN_MODIFY:
                self._check_frozen(watched)
            elif mask & (IN_MOVED_TO | IN_CREATE) and name == STATE_FILE:
                self._announce(watched)
            elif mask & IN_DELETE and name == FIFO and watched.state is not None:
                self.bus.publish(Started(watched.id, watched.state.pid))
            elif mask & (IN_DELETE_SELF | IN_IGNORED) and wd == watched.wd:
                self._gone(watched.id)

    def _follow_dir(self, name: str) -> None:
        from shim.sys import inotify_add_watch

        if name in self._by_id:
            return
        path = os.path.join(self.store.root, name)
        try:
            wd = inotify_add_watch(
                self._fd, path, IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_DELETE_SELF | IN_ONLYDIR
            )
        except OSError:
            return  # gone already
        watched = _Watched(name, wd)
        self._by_id[name], self._by_wd[wd] = watched, watched
        if os.path.exists(os.path.join(path, STATE_FILE)):
            self._announce(watched, found=True)

    def _announce(self, watched: _Watched, found: bool = False) -> None:
        """state.json is there: Created (and, for one found running, where it is now)."""
        from shim.runtime.container import Container

        if watched.state is not None:
            return  # state.json rewritten (update): nothing new
        try:
            with Container.open(self.store, watched.id) as container:
                state, status = container.state, container.status
                manager = container.manager() if state.cgroup_paths else None
        except ShimError:
            return
        watched.state, watched.manager = state, manager
        self.bus.publish(Created(watched.id, state.pid, state.bundle))
        if found and status in ("running", "paused"):
            self.bus.publish(Started(watched.id, state.pid))
        if found and status == "stopped":
            self.bus.publish(Exited(watched.id, "", state.pid, -1, time.time_ns()))
        assert self._tg is not None
        self._tg.start_soon(self._follow_container, watched)

    async def _follow_container(self, watched: _Watched) -> None:
        with watched.scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_exit, watched)
                if watched.manager is not None:
                    self._watch_freezer(watched)
                    tg.start_soon(self._watch_oom, watched)

    async def _watch_exit(self, watched: _Watched) -> None:
        from shim.runtime.status import init_alive

        state = watched.state
        assert state is not None
        try:
            pidfd = os.pidfd_open(state.pid)
        except ProcessLookupError:
            return
        try:
            if not init_alive(state.pid, state.start_time):
                return  # gone (or another process under its pid): announced when found
            await anyio.wait_readable(pidfd)
        finally:
            os.close(pidfd)
        self.bus.publish(Exited(watched.id, "", state.pid, -1, time.time_ns()))

    def _watch_freezer(self, watched: _Watched) -> None:
        from shim.sys import inotify_add_watch

        manager = watched.manager
        assert manager is not None
        watched.frozen = manager.frozen()
        if "" in manager.paths and manager.mode == "v2":
            try:
                watched.events_wd = inotify_add_watch(
                    self._fd, os.path.join(manager.paths[""], "cgroup.events"), IN_MODIFY
                )
                self._by_wd[watched.events_wd] = watched
            except OSError:
                watched.events_wd = -1

    def _check_frozen(self, watched: _Watched) -> None:
        manager = watched.manager
        if manager is None or not manager.exists():
            return
        try:
            frozen = manager.frozen()
        except (ShimError, OSError):
            return
        if frozen != watched.frozen:
            watched.frozen = frozen
            event = Paused(watched.id) if frozen else Resumed(watched.id)
            self.bus.publish(event)

    async def _watch_oom(self, watched: _Watched) -> None:
        manager = watched.manager
        assert manager is not None
        if manager.mode != "v2" and "memory" not in manager.paths:
            return
        try:
            watch = manager.oom_watch()
        except ShimError:
            return
        await relay_ooms(watched.id, watch, self.bus)

    def _gone(self, name: str) -> None:
        watched = self._by_id.pop(name, None)
        if watched is None:
            return
        self._by_wd.pop(watched.wd, None)
        self._by_wd.pop(watched.events_wd, None)
        watched.scope.cancel()
        if watched.state is not None:
            self.bus.publish(Deleted(watched.id, watched.state.pid, -1, time.time_ns()))
