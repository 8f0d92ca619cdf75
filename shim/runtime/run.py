"""`run` in the foreground: create + start, forward signals to pid 1, wait on it, delete.

The init is our own child (the helper clones it with CLONE_PARENT), so we wait
for it directly; as a child subreaper we also reap whatever it orphans.
"""

from __future__ import annotations

import os
import signal

from shim.errors import ShimError
from shim.io.console import PtyProxy, recv_master, socket_pair
from shim.logs import get_logger
from shim.runtime.create import CreateOptions, create_container
from shim.runtime.delete import delete_container
from shim.runtime.start import poststart, release
from shim.runtime.state_store import StateStore

UNFORWARDED = {signal.SIGCHLD, signal.SIGWINCH, signal.SIGKILL, signal.SIGSTOP}


def exit_code(status: int) -> int:
    """The shell's convention runc follows: N, or 128+signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _forward_signals(pidfd: int, proxy: PtyProxy | None) -> None:
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


def _wait(pid: int, proxy: PtyProxy | None) -> int:
    """Wait for pid 1; also reap orphans handed to us as subreaper."""
    while True:
        if proxy is not None and not proxy.pump_once(0.05):
            proxy = None  # the pty closed: the init is exiting, wait for it plainly
        options = os.WNOHANG if proxy is not None else 0
        try:
            waited, status = os.waitpid(-1, options)
        except ChildProcessError:
            raise ShimError("container init vanished without an exit status") from None
        if waited == pid:
            return exit_code(status)


def run_container(
    store: StateStore,
    container_id: str,
    bundle: str,
    opts: CreateOptions,
    *,
    terminal: bool,
    keep: bool = False,
    no_subreaper: bool = False,
) -> int:
    """Run in the foreground; returns the exit code to exit with."""
    ours = None
    if terminal:
        ours, theirs = socket_pair()
        opts.console_fd = theirs
    if not no_subreaper:
        from shim.sys import set_child_subreaper

        set_child_subreaper()
    try:
        state = create_container(store, container_id, bundle, opts)
    finally:
        if opts.console_fd is not None and ours is not None:
            os.close(opts.console_fd)
    proxy = None
    try:
        if ours is not None:
            proxy = PtyProxy(recv_master(ours))
        pidfd = os.pidfd_open(state.pid)
        _forward_signals(pidfd, proxy)
        release(state, os.path.join(store.root, container_id, "exec.fifo"))
        poststart(state)
        code = _wait(state.pid, proxy)
    except BaseException:
        delete_container(store, container_id, force=True)
        raise
    finally:
        if proxy is not None:
            proxy.close()
    if not keep:
        try:
            delete_container(store, container_id, force=True)
        except ShimError as err:
            get_logger().error(str(err))
    return code
