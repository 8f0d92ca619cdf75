"""`state` and `list`: what a container looks like from outside, in runc's shapes."""

from __future__ import annotations

import os

from shim import OCI_VERSION
from shim.errors import NotFound, ShimError
from shim.runtime.container import Container
from shim.runtime.status import STOPPED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.runtime.state_store import StateStore


def describe(container: Container, owner: str = "") -> dict[str, object]:
    """The OCI state plus runc's extras, in runc's key order; pid 0 once stopped."""
    state, status = container.state, container.status
    out: dict[str, object] = {
        "ociVersion": OCI_VERSION,
        "id": state.id,
        "pid": 0 if status == STOPPED else state.pid,
        "status": status,
        "bundle": state.bundle,
        "rootfs": state.rootfs,
        "created": state.created,
    }
    if state.annotations:
        out["annotations"] = dict(sorted(state.annotations.items()))
    out["owner"] = owner
    return out


def container_state(store: StateStore, container_id: str) -> dict[str, object]:
    with Container.open(store, container_id) as container:
        return describe(container)


def _owner(path: str) -> str:
    uid = os.stat(path).st_uid
    try:
        with open("/etc/passwd") as f:
            for line in f:
                fields = line.split(":")
                if len(fields) > 2 and fields[2] == str(uid):
                    return fields[0]
    except OSError:
        pass
    return f"#{uid}"


def list_containers(store: StateStore) -> tuple[list[dict[str, object]], list[str]]:
    """(states, warnings): a dir without state.json is skipped with a warning, as runc does."""
    store.ensure_root()
    states: list[dict[str, object]] = []
    warnings: list[str] = []
    for cid in store.ids():
        try:
            cdir = store.open(cid)
        except (NotFound, ShimError):
            continue
        try:
            states.append(describe(Container(cdir, cdir.read_state()), _owner(cdir.path)))
        except NotFound:
            warnings.append(f"load container {cid}: container does not exist")
        except ShimError as err:  # one bad state file must not hide the others
            warnings.append(f"load container {cid}: {err}")
        finally:
            cdir.close()
    return states, warnings
