"""The one reaper: the only code in this process that collects a child's exit status.

Known children are adopted with a pidfd and reaped with `waitid(P_PIDFD)`, so reaping
one can never take another's status. Orphans (we are the child subreaper, so whatever
a container's processes leave behind is re-parented to us) are found with
`waitid(P_ALL, WNOWAIT)`, which only peeks: a known pid is collected as its own child,
an unknown one is reaped as an orphan. While anyone holds the reaper (a spawn in flight:
a child exists whose pid nobody has adopted yet) no orphan is reaped; the reaper notes
that it skipped and `on_release` tells its owner to look again.

Thread-safe: worker threads (a create's handshake, a delete) adopt, collect and wait;
the event loop's tasks collect and reap orphans. A lock makes each step atomic, and a
status is stored on its `Child` the moment it is collected, so every later reader (any
thread, any number of waiters) gets the same `Exit`.
"""

from __future__ import annotations

import _thread  # not `threading` (~7 ms): one-shot CLI commands use this reaper too
import os
import time

from shim.cancel import wait_readable
from shim.children import Child, Exit
from shim.errors import Internal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from shim.cancel import CancelToken


class Reaper:
    """Owns every child of this process. See the module docstring."""

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._known: dict[int, Child] = {}
        self._holds = 0
        self._deferred = False
        self.on_release: Callable[[], None] | None = None  # orphans were skipped while held
        self.orphans_reaped = 0

    # -- holding -----------------------------------------------------------------------

    def hold(self) -> _Hold:
        """`with reaper.hold():` around a spawn and the adoption of what it started."""
        return _Hold(self)

    def acquire_hold(self) -> None:
        with self._lock:
            self._holds += 1

    def release_hold(self) -> None:
        with self._lock:
            self._holds -= 1
            wake = self._holds == 0 and self._deferred
            if wake:
                self._deferred = False
        if wake and self.on_release is not None:
            self.on_release()

    # -- known children -----------------------------------------------------------------

    def adopt(self, pid: int, pidfd: int = -1) -> Child:
        """Own child `pid` from now on. Call while holding, or the orphan reaper may have
        taken it already (then this raises Internal)."""
        if pidfd < 0:
            try:
                pidfd = os.pidfd_open(pid)
            except ProcessLookupError:
                raise Internal(f"adopt child {pid}: it was reaped by someone else") from None
        child = Child(pid, pidfd, _start_time(pid))
        with self._lock:
            self._known[pid] = child
        return child

    def collect(self, child: Child) -> Exit | None:
        """The child's exit, reaping it now if it has just exited; None while it runs."""
        with self._lock:
            return self._collect_locked(child)

    def _collect_locked(self, child: Child) -> Exit | None:
        if child.exit is not None or child.pidfd < 0:
            return child.exit
        try:
            info = os.waitid(os.P_PIDFD, child.pidfd, os.WEXITED | os.WNOHANG)
        except ChildProcessError:
            raise Internal(f"child {child.pid}: not our child, or reaped elsewhere") from None
        if info is None or info.si_pid == 0:
            return None
        child.exit = Exit.of_waitid(child.pid, info.si_code, info.si_status, time.time_ns())
        return child.exit

    def wait(
        self, child: Child, deadline: float | None = None, cancel: CancelToken | None = None
    ) -> Exit:
        """Block (this thread) until the child exits; its Exit. Raises TimedOut/Cancelled."""
        while True:
            exit_ = self.collect(child)
            if exit_ is not None:
                return exit_
            wait_readable([child.pidfd], deadline, cancel, f"wait for process {child.pid}")

    def release(self, child: Child) -> None:
        """Forget the child and close its pidfd. Unreaped, it is an orphan from now on."""
        with self._lock:
            if self._known.get(child.pid) is child:
                del self._known[child.pid]
            fd, child.pidfd = child.pidfd, -1
        if fd >= 0:
            os.close(fd)

    def known(self, pid: int) -> Child | None:
        with self._lock:
            return self._known.get(pid)

    # -- orphans -------------------------------------------------------------------------

    def reap_orphans(self) -> int:
        """Reap every exited child nobody adopted (known ones are collected on the way).
        Returns how many orphans went; stops early, and remembers to come back, while held."""
        reaped = 0
        with self._lock:
            while True:
                try:
                    info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                except ChildProcessError:
                    break  # no children at all
                if info is None or info.si_pid == 0:
                    break
                child = self._known.get(info.si_pid)
                if child is not None:
                    if self._collect_locked(child) is None:
                        break  # released mid-way: its owner reaps it
                    continue
                if self._holds:
                    self._deferred = True
                    break
                try:
                    os.waitpid(info.si_pid, os.WNOHANG)
                except ChildProcessError:
                    continue
                reaped += 1
        self.orphans_reaped += reaped
        return reaped


class _Hold:
    __slots__ = ("_reaper",)

    def __init__(self, reaper: Reaper) -> None:
        self._reaper = reaper

    def __enter__(self) -> None:
        self._reaper.acquire_hold()

    def __exit__(self, *exc: object) -> None:
        self._reaper.release_hold()


def _start_time(pid: int) -> int:
    """Field 22 of /proc/PID/stat (clock ticks since boot): with the pid, it names one
    process for good. 0 if unreadable (a zombie still has it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return 0
    return int(raw[raw.rindex(b")") + 2 :].split()[19])
