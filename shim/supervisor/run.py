"""`run` in the foreground: create + start, relay stdio, forward signals to pid 1, wait on
it through the reaper, delete (shim.supervisor.foreground_container)."""

from __future__ import annotations

from shim.runtime.create import CreateOptions, create_container
from shim.runtime.start import poststart, release
from shim.runtime.state_store import StateStore
from shim.supervisor.foreground_container import run_in_foreground

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.runtime.create import Created
    from shim.supervisor.reaper import Reaper


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

    def make(reaper: Reaper) -> Created:
        return create_container(store, container_id, bundle, opts, reaper)

    def start(created: Created) -> None:
        release(created.state, store.fifo_path(container_id))

    def after_start(created: Created, reaper: Reaper) -> None:
        poststart(created.state, reaper)

    return run_in_foreground(
        store,
        container_id,
        opts,
        make,
        terminal=terminal,
        start=start,
        poststart=after_start,
        keep=keep,
        no_subreaper=no_subreaper,
    )
