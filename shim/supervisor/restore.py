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

from shim.runtime.restore import restore_container
from shim.supervisor.foreground_container import run_in_foreground

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.runtime.create import Created
    from shim.runtime.criu_options import RestoreOptions
    from shim.runtime.state_store import StateStore
    from shim.supervisor.reaper import Reaper


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

    def make(reaper: Reaper) -> Created:
        return restore_container(store, container_id, bundle, opts, reaper)

    return run_in_foreground(
        store, container_id, opts, make, terminal=terminal, no_subreaper=no_subreaper
    )
