"""One container under a state root, opened: its directory (locked for a mutation), its
stored state, and its status derived now. Every verb starts here; nobody else derives
a status (`status.status_of` is the rule, `status.ALLOWED` the table of moves).

    with Container.open(store, "c1", lock=True) as c:
        c.require("pause")            # WrongState with runc's text, unless allowed now
        c.manager().freeze()
"""

from __future__ import annotations

from shim.runtime.status import open_init, require, status_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cgroups.manager import Manager
    from shim.runtime.state_store import ContainerDir, State, StateStore


class Container:
    """An existing container, opened (and locked, if asked). Close it, or use `with`."""

    __slots__ = ("cdir", "state", "status")

    def __init__(self, cdir: ContainerDir, state: State) -> None:
        self.cdir = cdir
        self.state = state
        self.status = self.refresh()

    @classmethod
    def open(cls, store: StateStore, container_id: str, *, lock: bool = False) -> Container:
        """NotFound if there is no such container (or no state.json yet)."""
        cdir = store.open(container_id, lock=lock)
        try:
            return cls(cdir, cdir.read_state())
        except BaseException:
            cdir.close()
            raise

    @property
    def id(self) -> str:
        return self.state.id

    @property
    def fifo_path(self) -> str:
        return self.cdir.fifo_path

    def refresh(self) -> str:
        """Derive the status again (after an operation that changes it)."""
        st = self.state
        self.status = status_of(st.pid, st.start_time, st.cgroup_paths, self.cdir.fifo_path)
        return self.status

    def require(self, op: str) -> None:
        """WrongState (runc's text) unless `op` is allowed in the current status."""
        require(self.status, op, self.state.id)

    def open_init(self, refusal: str = "container not running") -> int:
        """A pidfd of the init, checked against its start time; WrongState(refusal) if gone."""
        return open_init(self.state, refusal)

    def manager(self) -> Manager:
        from shim.cgroups.manager import manager_for

        return manager_for(self.state.cgroup_paths)

    def close(self) -> None:
        self.cdir.close()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
