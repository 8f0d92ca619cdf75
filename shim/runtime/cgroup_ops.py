"""What pause, resume, update, ps and events share: their state rules and the container.

The moves of these operations, as a table in the style of `status.ALLOWED`
(status, op) -> allowed, with runc's text for every refusal.
"""

from __future__ import annotations

from shim.errors import NotFound, WrongState
from shim.runtime.status import CREATED, PAUSED, RUNNING, STOPPED, status_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cgroups.manager import Manager
    from shim.runtime.state_store import ContainerDir, State, StateStore

ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        (CREATED, "pause"),
        (RUNNING, "pause"),
        (PAUSED, "resume"),
        *((status, "update") for status in (CREATED, RUNNING, PAUSED)),
        *((status, "events") for status in (CREATED, RUNNING, PAUSED)),
        *((status, "ps") for status in (CREATED, RUNNING, PAUSED, STOPPED)),
    }
)
REFUSALS: dict[str, str] = {
    "pause": "container not running",
    "resume": "container not paused",
    "update": "container not running",
    "events": "container with id {id} is not running",
}


def require(status: str, op: str, container_id: str) -> None:
    """Raise WrongState with runc's text unless `op` is allowed in `status`."""
    if (status, op) not in ALLOWED:
        text = REFUSALS.get(op, f"cannot {op} a container that is {status}")
        raise WrongState(text.format(id=container_id))


class Target:
    """An existing container opened for a cgroup operation (locked if asked): its
    state, its status now, and its cgroup manager. Close it (or use `with`)."""

    __slots__ = ("cdir", "state", "status")

    def __init__(self, store: StateStore, container_id: str, lock: bool = False) -> None:
        self.cdir: ContainerDir = store.open(container_id, lock=lock)
        try:
            if not self.cdir.has_state():
                raise NotFound("container does not exist")
            self.state: State = self.cdir.read_state()
        except BaseException:
            self.cdir.close()
            raise
        st = self.state
        self.status = status_of(st.pid, st.start_time, st.cgroup_paths, self.cdir.fifo_path)

    def require(self, op: str) -> None:
        require(self.status, op, self.state.id)

    def manager(self) -> Manager:
        from shim.cgroups.manager import manager_for

        return manager_for(self.state.cgroup_paths)

    def close(self) -> None:
        self.cdir.close()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
