"""`run` in the foreground: create + start, relay stdio, forward signals to pid 1, wait on
it through the reaper, delete.

As runc does, the process never gets our own stdio: pipes (or a pty, with a terminal)
that `Relay` copies to ours. The init is our child (the helper clones it with
CLONE_PARENT); as the child subreaper we also reap whatever it orphans.
"""

from __future__ import annotations

import os

from shim.errors import ShimError
from shim.logs import get_logger
from shim.runtime.create import CreateOptions, create_container
from shim.runtime.delete import delete_container
from shim.runtime.start import poststart, release
from shim.runtime.state_store import StateStore
from shim.supervisor.foreground import SignalForwarder, wait_foreground
from shim.supervisor.reaper import Reaper
from shim.supervisor.relay import Relay, close_child_ends


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
    """Run in the foreground; returns the exit code to exit with (128+N if killed by N)."""
    reaper = Reaper()
    forwarder = SignalForwarder()
    forwarder.install()  # before anything starts: a signal during create is held, then sent
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
            created = create_container(store, container_id, bundle, opts, reaper)
        finally:
            if opts.console_fd is not None:
                os.close(opts.console_fd)
            if relay is not None and opts.stdio is not None:
                close_child_ends(opts.stdio)  # the pipes' child ends: the helper has its own
        try:
            if console >= 0:
                from shim.io.console import recv_master

                master, console = recv_master(console), -1  # it closes the socket
                relay = Relay.with_console(master)
                forwarder.on_winch = relay.resize
            assert relay is not None
            state = created.state
            release(state, store.fifo_path(container_id))
            forwarder.target(created.init)  # pid 1 ignores what it has no handler for
            poststart(state, reaper)
            exit_ = wait_foreground(
                reaper, created.init, relay, forwarder, reap_orphans=not no_subreaper
            )
        except BaseException:
            delete_container(store, container_id, reaper, force=True)
            raise
        if not keep:
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
