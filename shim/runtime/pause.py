"""`pause` and `resume`: freeze and thaw the container's cgroup (v1 freezer or v2
`cgroup.freeze`). `paused` is never stored: `status` reads it from the freezer."""

from __future__ import annotations

from shim.runtime.container import Container

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.runtime.state_store import StateStore


def pause_container(store: StateStore, container_id: str) -> None:
    """Freeze a created or running container; `container not running` otherwise."""
    with Container.open(store, container_id, lock=True) as target:
        target.require("pause")
        target.manager().freeze()


def resume_container(store: StateStore, container_id: str) -> None:
    """Thaw a paused container; `container not paused` otherwise."""
    with Container.open(store, container_id, lock=True) as target:
        target.require("resume")
        target.manager().thaw()
