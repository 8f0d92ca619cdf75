"""`run` in the foreground: create + start, forward signals to pid 1, wait on it, delete.

The init is our own child (the helper clones it with CLONE_PARENT), so we wait
for it directly; as a child subreaper we also reap whatever it orphans.
"""

from __future__ import annotations

import os

from shim.errors import ShimError
from shim.io.console import PtyProxy, recv_master, socket_pair
from shim.logs import get_logger
from shim.runtime.create import CreateOptions, create_container
from shim.runtime.delete import delete_container
from shim.runtime.start import poststart, release
from shim.runtime.state_store import StateStore
from shim.supervisor.foreground import SignalForwarder, wait_for


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
    forwarder = SignalForwarder()
    forwarder.install()  # before anything starts: a signal during create is held, then sent
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
            forwarder.watch_pty(proxy)
        release(state, os.path.join(store.root, container_id, "exec.fifo"))
        forwarder.target(state.pid)  # pid 1 ignores what it has no handler for until exec
        poststart(state)
        code = wait_for(state.pid, proxy)
    except BaseException:
        delete_container(store, container_id, force=True)
        raise
    finally:
        forwarder.close()
        if proxy is not None:
            proxy.close()
    if not keep:
        try:
            delete_container(store, container_id, force=True)
        except ShimError as err:
            get_logger().error(str(err))
    return code
