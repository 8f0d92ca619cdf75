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


def forward_signals(pidfd: int, proxy: PtyProxy | None) -> None:
    def forward(signum: int, _frame: object) -> None:
        try:
            signal.pidfd_send_signal(pidfd, signum)
        except ProcessLookupError:
            pass

    for sig in signal.valid_signals():
        if sig not in UNFORWARDED and sig < signal.SIGRTMIN:
            signal.signal(sig, forward)
    if proxy is not None:
        signal.signal(signal.SIGWINCH, lambda _s, _f: proxy.resize())


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
