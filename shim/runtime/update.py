"""`update`: change a live container's cgroup limits and record them in its state.

The request comes from the CLI's flags (`shim.cli.update`) or from `update_request`
(`-r` JSON), with runc's zeros for what was not given. It is checked before anything
is written, applied through the container's cgroup manager (0 leaves a file alone),
then written back into `state.json`'s config with runc's quirk: fields not given are
stored as 0.
"""

from __future__ import annotations

from shim.cgroups.checks import check_resources
from shim.runtime.container import Container
from shim.runtime.update_request import stored_resources

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.runtime.state_store import StateStore
    from shim.spec.resources import Resources


def update_container(store: StateStore, container_id: str, res: Resources) -> None:
    """Apply `res` to a created, running or paused container; `container not running`
    once stopped. Raises `InvalidConfig`/`CgroupError` naming the field."""
    with Container.open(store, container_id, lock=True) as target:
        target.require("update")
        check_resources(res)
        target.manager().apply(res)
        state = target.state
        linux = state.config.get("linux")
        if not isinstance(linux, dict):
            linux = state.config["linux"] = {}
        linux["resources"] = stored_resources(linux.get("resources"), res)
        target.cdir.write_state(state)
