"""`ps`: the host pids of a container's cgroup tree (the CLI prints them, or cuts host `ps`)."""

from __future__ import annotations

from shim.runtime.container import Container

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.runtime.state_store import StateStore


def container_pids(store: StateStore, container_id: str) -> list[int]:
    """Host pids in the container's cgroup tree (empty once it has stopped)."""
    with Container.open(store, container_id) as target:
        target.require("ps")
        return target.manager().pids() if target.state.cgroup_paths else []
