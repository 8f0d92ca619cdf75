"""`delete`: remove what create made (processes, cgroups, state), then poststop hooks."""

from __future__ import annotations

import _signal

from shim.cgroups.manager import manager_for
from shim.errors import NotFound, ShimError
from shim.logs import get_logger
from shim.runtime.cleanup import Journal, destroy
from shim.runtime.hooks import HookSpec
from shim.runtime.state_store import StateStore
from shim.runtime.status import CREATED, PAUSED, STOPPED, require, status_of


def delete_container(store: StateStore, container_id: str, force: bool = False) -> None:
    """runc's rules: created/stopped go; running/paused need force; force on no such id is quiet."""
    try:
        cdir = store.open(container_id, lock=True)
    except NotFound:
        if force:
            return
        raise
    try:
        if not cdir.has_state():
            # A create that died before it wrote state.json: its journal says what to undo.
            destroy(cdir, Journal(cdir.path).load(), poststop=[], bundle=cdir.path)
            if force:
                return
            raise NotFound("container does not exist")
        try:
            state = cdir.read_state()
        except NotFound:
            raise
        except ShimError:
            if not force:
                raise
            # Unreadable state: what the journal knows, then the directory, is all we can do.
            get_logger().error(f"delete {container_id}: unreadable state, removing what is known")
            destroy(cdir, Journal(cdir.path).load(), poststop=[], bundle=cdir.path)
            return
        status = status_of(state.pid, state.start_time, state.cgroup_paths, cdir.fifo_path)
        if not force and status not in (CREATED, STOPPED):
            require(status, "delete", container_id)
        if status == PAUSED:
            # Frozen tasks die only once thawed: SIGKILL them all, then thaw (as runc's
            # Signal does for a paused container), before destroy waits for the init.
            manager_for(state.cgroup_paths).signal_all(_signal.SIGKILL)
        journal = Journal(cdir.path)
        journal.cgroup_created = state.cgroup_created
        journal.pids = [(state.pid, state.start_time)]
        destroy(
            cdir,
            journal,
            poststop=[HookSpec.from_dict(h) for h in state.hooks("poststop")],
            bundle=state.bundle,
            cgroup_paths=state.cgroup_paths,
            annotations=state.annotations,
        )
    finally:
        cdir.close()
