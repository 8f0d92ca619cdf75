"""`delete`: remove what create made (processes, cgroups, state), then poststop hooks."""

from __future__ import annotations

import _signal

from shim.errors import NotFound, ShimError
from shim.logs import get_logger
from shim.runtime.cleanup import Journal, destroy
from shim.runtime.container import Container
from shim.runtime.status import CREATED, PAUSED, STOPPED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cancel import CancelToken
    from shim.children import ChildReaper
    from shim.runtime.hooks import HookSpec
    from shim.runtime.state_store import ContainerDir, State, StateStore


def delete_container(
    store: StateStore,
    container_id: str,
    reaper: ChildReaper,
    force: bool = False,
    cancel: CancelToken | None = None,
) -> None:
    """runc's rules: created/stopped go; running/paused need force; force on no such id is quiet.

    The cgroup is swept (every process SIGKILLed) before the init is waited for, and
    nothing here reaps: a process that is our child is collected by `reaper`'s owner.
    """
    try:
        cdir = store.open(container_id, lock=True)
    except NotFound:
        if force:
            return
        raise
    try:
        if not cdir.has_state():
            # A create that died before it wrote state.json: its journal says what to undo.
            destroy(cdir, Journal(cdir.path).load(), poststop=[], bundle=cdir.path, reaper=reaper)
            if force:
                return
            raise NotFound("container does not exist")
        try:
            container = Container(cdir, cdir.read_state())
        except NotFound:
            raise
        except ShimError:
            if not force:
                raise
            _destroy_unreadable(cdir, reaper)
            return
        if not force and container.status not in (CREATED, STOPPED):
            container.require("delete")
        state = container.state
        if container.status == PAUSED:
            # Frozen tasks die only once thawed: SIGKILL them all, then thaw (as runc's
            # Signal does for a paused container), also in a cgroup create did not make.
            container.manager().signal_all(_signal.SIGKILL)
        journal = Journal(cdir.path)
        journal.cgroup_created = state.cgroup_created
        journal.pids = [(state.pid, state.start_time)]
        destroy(
            cdir,
            journal,
            poststop=_poststop(state),
            bundle=state.bundle,
            reaper=reaper,
            cgroup_paths=state.cgroup_paths,
            annotations=state.annotations,
            cancel=cancel,
        )
    finally:
        cdir.close()


def _poststop(state: State) -> list[HookSpec]:
    raw = state.hooks("poststop")
    if not raw:
        return []
    from shim.runtime.hooks import HookSpec

    return [HookSpec.from_dict(h) for h in raw]


def _destroy_unreadable(cdir: ContainerDir, reaper: ChildReaper) -> None:
    """Unreadable state: what the journal knows, then the directory, is all we can do."""
    get_logger().error(f"delete {cdir.id}: unreadable state, removing what is known")
    destroy(cdir, Journal(cdir.path).load(), poststop=[], bundle=cdir.path, reaper=reaper)
