"""OOM-kill notification from a memory cgroup, as a file descriptor to wait on.

    v1  an eventfd registered in `cgroup.event_control` against `memory.oom_control`
        (`"<eventfd> <oom_control fd>"`); the kernel bumps it at every OOM in the
        cgroup, and once more when the cgroup is removed.
    v2  inotify IN_MODIFY on `memory.events`; an OOM kill is `oom_kill` going up.

The watch is sans-loop: `fileno()` is what to wait on (readable), `read()` drains
it and returns how many OOM events to report, or None once the cgroup is gone.
An async caller waits with `anyio.wait_readable(watch.fileno())`.
"""

from __future__ import annotations

import os

from shim.cgroups import fs
from shim.errors import CgroupError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    class OomWatch(Protocol):
        def fileno(self) -> int: ...
        def read(self) -> int | None: ...
        def close(self) -> None: ...


class V1OomWatch:
    """eventfd on a v1 memory cgroup's `memory.oom_control`."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._ofd = -1
        try:
            self._ofd = os.open(f"{directory}/memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
            fs.write_raw(f"{directory}/cgroup.event_control", f"{self._efd} {self._ofd}")
        except OSError as err:
            self.close()
            raise CgroupError(f"oom notification on {directory}: {err.strerror}") from err

    def fileno(self) -> int:
        return self._efd

    def read(self) -> int | None:
        try:
            os.eventfd_read(self._efd)
        except BlockingIOError:
            return 0
        # The kernel also signals the eventfd when the cgroup is removed.
        if not os.path.exists(f"{self.directory}/cgroup.event_control"):
            return None
        return 1

    def close(self) -> None:
        for fd in (self._efd, self._ofd):
            if fd >= 0:
                os.close(fd)
        self._efd = self._ofd = -1


class V2OomWatch:
    """inotify on a v2 cgroup's `memory.events`; counts `oom_kill` increases."""

    def __init__(self, directory: str) -> None:
        from shim.sys import inotify_add_watch, inotify_flags, inotify_init

        self.path = f"{directory}/memory.events"
        self._fd = inotify_init()
        try:
            inotify_add_watch(self._fd, self.path, inotify_flags("IN_MODIFY"))
        except OSError as err:
            self.close()
            raise CgroupError(f"oom notification on {directory}: {err.strerror}") from err
        self._seen = fs.read_kv(self.path).get("oom_kill", 0)

    def fileno(self) -> int:
        return self._fd

    def read(self) -> int | None:
        try:
            while os.read(self._fd, 4096):
                pass
        except BlockingIOError:
            pass
        text = fs.read(self.path)
        if text is None:
            return None
        count = fs.parse_kv(text).get("oom_kill", 0)
        new, self._seen = max(0, count - self._seen), count
        return new

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
