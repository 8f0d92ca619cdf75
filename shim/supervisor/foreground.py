"""The foreground half of `run` and `exec`: forward signals to our child, pump its pty, wait.

The process is our own child (the helper clones it with CLONE_PARENT), so we wait
for it directly.
"""

from __future__ import annotations

import os
import signal

from shim.errors import ShimError
from shim.io.console import PtyProxy

UNFORWARDED = {signal.SIGCHLD, signal.SIGWINCH, signal.SIGKILL, signal.SIGSTOP}


def exit_code(status: int) -> int:
    """The shell's convention runc follows: N, or 128+signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class SignalForwarder:
    """Catches every signal from before the process exists and forwards them once it does.

    Installed before create/exec starts anything, as runc does: a signal that arrives
    while the process is being set up is held, not lost and not fatal to us.
    """

    def __init__(self) -> None:
        self.pidfd = -1
        self.pending: list[int] = []

    def install(self) -> None:
        for sig in signal.valid_signals():
            if sig not in UNFORWARDED and sig < signal.SIGRTMIN:
                signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.pidfd < 0:
            self.pending.append(signum)
            return
        try:
            signal.pidfd_send_signal(self.pidfd, signum)
        except ProcessLookupError:
            pass

    def target(self, pid: int) -> None:
        """From now on signals go to `pid`; the held ones first, in order."""
        self.pidfd = os.pidfd_open(pid)
        pending, self.pending = self.pending, []
        for signum in pending:
            self._on_signal(signum, None)

    def watch_pty(self, proxy: PtyProxy) -> None:
        signal.signal(signal.SIGWINCH, lambda _s, _f: proxy.resize())

    def close(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


def wait_for(pid: int, proxy: PtyProxy | None) -> int:
    """Wait for our child `pid` (pumping the pty meanwhile); reap orphans handed to us too."""
    while True:
        if proxy is not None and not proxy.pump_once(0.05):
            proxy = None  # the pty closed: the init is exiting, wait for it plainly
        options = os.WNOHANG if proxy is not None else 0
        try:
            waited, status = os.waitpid(-1, options)
        except ChildProcessError:
            raise ShimError(f"process {pid} vanished without an exit status") from None
        if waited == pid:
            return exit_code(status)
