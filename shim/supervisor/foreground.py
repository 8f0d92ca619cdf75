"""The foreground half of `run` and `exec`: forward signals to the process, relay its stdio,
wait for it through the reaper.

The process is our own child (the helper clones it with CLONE_PARENT); the reaper
collects it through its pidfd. `run` is also the child subreaper: whatever the
container orphans is re-parented to us and reaped here, never taking the process's
own status.
"""

from __future__ import annotations

import _signal  # the C module: `signal` builds enums at import (enum, functools...)
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from shim.children import Child, Exit
    from shim.supervisor.reaper import Reaper
    from shim.supervisor.relay import Relay

UNFORWARDED = {_signal.SIGCHLD, _signal.SIGWINCH, _signal.SIGKILL, _signal.SIGSTOP}


class SignalForwarder:
    """Catches every signal from before the process exists and forwards them once it does.

    Installed before create/exec starts anything, as runc does: a signal that arrives
    while the process is being set up is held, not lost and not fatal to us. SIGCHLD
    and SIGWINCH only wake the foreground loop (through `wake_fd`).
    """

    def __init__(self) -> None:
        self.pidfd = -1
        self.pending: list[int] = []
        self.on_winch: Callable[[], None] | None = None
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)

    @property
    def wake_fd(self) -> int:
        return self._wake_r

    def install(self) -> None:
        for sig in _signal.valid_signals():
            if sig not in UNFORWARDED and sig < _signal.SIGRTMIN:
                _signal.signal(sig, self._on_signal)
        _signal.signal(_signal.SIGCHLD, self._wake)
        _signal.signal(_signal.SIGWINCH, self._winch)

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.pidfd < 0:
            self.pending.append(signum)
            return
        try:
            _signal.pidfd_send_signal(self.pidfd, signum)
        except ProcessLookupError:
            pass

    def _wake(self, _signum: int, _frame: object) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except BlockingIOError:
            pass  # already awake

    def _winch(self, signum: int, frame: object) -> None:
        if self.on_winch is not None:
            self.on_winch()

    def clear_wake(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def target(self, child: Child) -> None:
        """From now on signals go to `child`; the held ones first, in order."""
        self.pidfd = os.dup(child.pidfd)
        pending, self.pending = self.pending, []
        for signum in pending:
            self._on_signal(signum, None)

    def close(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1


def wait_foreground(
    reaper: Reaper,
    child: Child,
    relay: Relay,
    forwarder: SignalForwarder,
    *,
    reap_orphans: bool,
) -> Exit:
    """Relay stdio until `child` exits; its Exit. Orphans are reaped as they come when
    we are the subreaper (`run`)."""
    while True:
        exit_ = reaper.collect(child)
        if exit_ is not None:
            return exit_
        ready = relay.step([child.pidfd, forwarder.wake_fd])
        if forwarder.wake_fd in ready:
            forwarder.clear_wake()
            if reap_orphans:
                reaper.reap_orphans()
