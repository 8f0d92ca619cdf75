"""`restore` in the foreground: restore, forward signals to the init, wait, delete.

As `run` does: the signal forwarder is installed before anything starts (a signal
that comes during the restore is held, then sent); criu restores the init as our
sibling-turned-child (rst_sibling), so we wait for it directly; as a child subreaper
we also reap what it orphans; afterwards the container is deleted (runc has no
--keep for restore).
"""

from __future__ import annotations

import os

from shim.errors import ShimError
from shim.io.console import PtyProxy, recv_master, socket_pair
from shim.logs import get_logger
from shim.runtime.delete import delete_container
from shim.runtime.foreground import SignalForwarder, wait_for
from shim.runtime.restore import restore_container

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.runtime.criu_options import RestoreOptions
    from shim.runtime.state_store import StateStore


def restore_and_wait(
    store: StateStore,
    container_id: str,
    bundle: str,
    opts: RestoreOptions,
    *,
    terminal: bool,
    no_subreaper: bool = False,
) -> int:
    """Restore in the foreground; returns the exit code to exit with (128+N if killed)."""
    forwarder = SignalForwarder()
    forwarder.install()
    ours = None
    if terminal:  # criu hands the pty master to this socket; we proxy it, as run does
        ours, opts.console_fd = socket_pair()
    if not no_subreaper:
        from shim.sys import set_child_subreaper

        set_child_subreaper()
    try:
        state = restore_container(store, container_id, bundle, opts)
    finally:
        if ours is not None and opts.console_fd is not None:
            os.close(opts.console_fd)
    proxy = None
    try:
        if ours is not None:
            proxy = PtyProxy(recv_master(ours))
            forwarder.watch_pty(proxy)
        forwarder.target(state.pid)
        code = wait_for(state.pid, proxy)
    except BaseException:
        delete_container(store, container_id, force=True)
        raise
    finally:
        forwarder.close()
        if proxy is not None:
            proxy.close()
    try:
        delete_container(store, container_id, force=True)
    except ShimError as err:
        get_logger().error(str(err))
    return code
