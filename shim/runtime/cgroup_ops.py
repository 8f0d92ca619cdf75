"""What pause, resume, update, ps and events share: the container they act on.

Their moves are in `status.ALLOWED`, with the rest of the state machine.
"""

from __future__ import annotations

from shim.runtime.status import require, status_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cgroups.manager import Manager
    from shim.runtime.state_store import ContainerDir, State, StateStore


class Target:
    """An existing container opened for a cgroup operation (locked if asked): its
    state, its status now, and its cgroup manager. Close it (or use `with`)."""

    __slots__ = ("cdir", "state", "status")

    def __init__(self, store: StateStore, container_id: str, lock: bool = False) -> None:
        self.cdir: ContainerDir = store.open(container_id, lock=lock)
        try:
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
