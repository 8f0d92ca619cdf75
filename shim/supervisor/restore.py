"""`restore` in the foreground: restore, relay stdio, forward signals to the init, wait on
it through the reaper, delete.

As foreground `run` does (shim.supervisor.run), and as runc's restore does: the restored
process never gets our own stdio but pipes (criu puts them where the checkpointed
process had its pipes) that `Relay` copies to ours, or, for a terminal container, the
pty master criu hands over (orphan-pts-master), relayed the same way. criu restores
the init as its sibling, so it is our child; as the child subreaper we also reap what
it orphans. Afterwards the container is deleted (runc's restore has no --keep).
"""

from __future__ import annotations

import os

from shim.errors import ShimError
from shim.logs import get_logger
from shim.runtime.delete import delete_container
from shim.runtime.restore import restore_container
from shim.supervisor.foreground import SignalForwarder, wait_foreground
from shim.supervisor.reaper import Reaper
from shim.supervisor.relay import Relay, close_child_ends

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
    reaper = Reaper()
    forwarder = SignalForwarder()
    forwarder.install()  # before anything starts: a signal during restore is held, then sent
    if not no_subreaper:
        from shim.sys import set_child_subreaper

        set_child_subreaper()
    relay: Relay | None = None
    console = -1
    try:
        if terminal:
            from shim.io.console import socket_pair

            console, opts.console_fd = socket_pair()
            opts.stdio = None  # the pty replaces them
        else:
            relay, opts.stdio = Relay.with_pipes()
        try:
            created = restore_container(store, container_id, bundle, opts, reaper)
        finally:
            if opts.console_fd is not None:
                os.close(opts.console_fd)
            if relay is not None and opts.stdio is not None:
                close_child_ends(opts.stdio)  # criu had its own copies
        try:
            if console >= 0:
                from shim.io.console import recv_master

                master, console = recv_master(console), -1  # it closes the socket
                relay = Relay.with_console(master)
                forwarder.on_winch = relay.resize
            assert relay is not None
            forwarder.target(created.init)
            exit_ = wait_foreground(
                reaper, created.init, relay, forwarder, reap_orphans=not no_subreaper
            )
        except BaseException:
            delete_container(store, container_id, reaper, force=True)
            raise
        try:  # first, as runc: whatever the init left is killed, so the outputs end
            delete_container(store, container_id, reaper, force=True)
        except ShimError as err:
            get_logger().error(str(err))
        relay.drain()
        reaper.release(created.init)
        if not no_subreaper:
            reaper.reap_orphans()
        return exit_.status
    finally:
        forwarder.close()
        if relay is not None:
            relay.close()
        if console >= 0:
            os.close(console)
