"""A container in the foreground, made by `run` (create + start) or `restore` (criu): its
stdio relayed to ours, our signals forwarded to its init, waited on through the reaper,
then deleted.

As runc does, the init never gets our own stdio: pipes (or a pty, with a terminal)
that `Relay` copies to ours. The init is our child (the helper clones it with
CLONE_PARENT, criu restores it as its sibling); as the child subreaper we also reap
whatever it orphans.
"""

from __future__ import annotations

import os

from shim.errors import ShimError
from shim.logs import get_logger
from shim.runtime.delete import delete_container
from shim.supervisor.foreground import SignalForwarder, wait_foreground
from shim.supervisor.reaper import Reaper
from shim.supervisor.relay import Relay, close_child_ends

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    from shim.runtime.create import Created
    from shim.runtime.state_store import StateStore

    class ChildStdio(Protocol):
        """CreateOptions or RestoreOptions: where the made process's stdio comes from."""

        stdio: tuple[int, int, int] | None
        console_fd: int | None


def run_in_foreground(
    store: StateStore,
    container_id: str,
    opts: ChildStdio,
    make: Callable[[Reaper], Created],
    *,
    terminal: bool,
    start: Callable[[Created], None] | None = None,
    poststart: Callable[[Created, Reaper], None] | None = None,
    keep: bool = False,
    no_subreaper: bool = False,
) -> int:
    """`make` the container with `opts` given our relay's ends, `start` it, forward our
    signals to it, run `poststart`, then relay and wait; the exit code to exit with (128+N
    if killed by N). Unless `keep`, the container is deleted afterwards; after a failure,
    always."""
    reaper = Reaper()
    forwarder = SignalForwarder()
    forwarder.install()  # before anything starts: a signal while making it is held, then sent
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
            created = make(reaper)
        finally:
            if opts.console_fd is not None:
                os.close(opts.console_fd)
            if relay is not None and opts.stdio is not None:
                close_child_ends(opts.stdio)  # the helper (or criu) has its own copies
        try:
            if console >= 0:
                from shim.io.console import recv_master

                master, console = recv_master(console), -1  # it closes the socket
                relay = Relay.with_console(master)
                forwarder.on_winch = relay.resize
            assert relay is not None
            if start is not None:
                start(created)
            forwarder.target(created.init)  # pid 1 ignores what it has no handler for
            if poststart is not None:
                poststart(created, reaper)
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
