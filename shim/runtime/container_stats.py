"""The `events` data of one container, without any event loop: `events --stats` and
the streams in `shim.runtime.events` both build their lines here.

A line is runc's `{"type":"stats","id":ID,"data":{...}}` or `{"type":"oom","id":ID}`;
`data` is the cgroup statistics plus `intel_rdt` (always `{}` here) and
`network_interfaces` from the container's network namespace (`/proc/<init>/net/dev`,
loopback left out as runc does; `null` when there is none).
"""

from __future__ import annotations

from shim.json_codec import dumps
from shim.runtime.container import Container
from shim.runtime.status import STOPPED, init_alive

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cgroups.manager import Manager
    from shim.runtime.state_store import State, StateStore

STATS, OOM = "stats", "oom"
_NET_FIELDS = (
    *("rx_bytes", "rx_packets", "rx_errors", "rx_dropped"),
    *("tx_bytes", "tx_packets", "tx_errors", "tx_dropped"),
)


class Event:
    """One line of `events` output; `data` is None for an OOM event."""

    __slots__ = ("data", "id", "type")

    def __init__(self, type: str, id: str, data: dict[str, object] | None = None) -> None:
        self.type = type
        self.id = id
        self.data = data

    def to_json(self) -> str:
        out: dict[str, object] = {"type": self.type, "id": self.id}
        if self.data is not None:
            out["data"] = self.data
        return dumps(out)

    def __repr__(self) -> str:
        return f"Event({self.type!r}, {self.id!r})"


def stats_event(container_id: str, manager: Manager, pid: int) -> Event:
    """A stats event: the cgroup's numbers now, and the init's network counters."""
    data = manager.stats()
    data["intel_rdt"] = {}
    data["network_interfaces"] = network_interfaces(pid) if pid > 0 else None
    return Event(STATS, container_id, data)


def stats_now(store: StateStore, container_id: str) -> Event:
    """`events --stats`: one stats event now. Raises `NotFound`, or `WrongState`
    (`container with id ID is not running`) once the container has stopped."""
    from shim.cgroups.manager import manager_for

    with Container.open(store, container_id) as target:
        target.require("events")
        state = target.state
    return stats_event(state.id, manager_for(state.cgroup_paths), live_pid(state))


def stats_of_all(store: StateStore) -> list[Event]:
    """`events --all --stats`: a stats event for every container that has not stopped."""
    from shim.cgroups.manager import manager_for
    from shim.errors import ShimError

    found: list[Event] = []
    for cid in store.ids():
        try:
            with Container.open(store, cid) as target:
                state, status = target.state, target.status
        except ShimError:
            continue  # no state.json yet, or gone meanwhile
        if status != STOPPED and state.cgroup_paths:
            found.append(stats_event(cid, manager_for(state.cgroup_paths), live_pid(state)))
    return found


def live_pid(state: State) -> int:
    """The init's pid while it is the process create started, else 0."""
    return state.pid if init_alive(state.pid, state.start_time) else 0


def network_interfaces(pid: int) -> list[dict[str, object]] | None:
    """Counters of every interface but `lo` in the namespace of `pid`, or None."""
    try:
        with open(f"/proc/{pid}/net/dev", "rb") as f:
            text = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return parse_net_dev(text)


def parse_net_dev(text: str) -> list[dict[str, object]] | None:
    """`/proc/net/dev` text -> runc's networkInterface objects (sans-IO)."""
    found: list[dict[str, object]] = []
    for line in text.splitlines()[2:]:  # two header lines
        name, colon, counters = line.partition(":")
        fields = counters.split()
        if not colon or len(fields) < 16 or name.strip() == "lo":
            continue
        values = [int(v) if v.isdigit() else 0 for v in (*fields[0:4], *fields[8:12])]
        entry: dict[str, object] = {"name": name.strip()}
        entry.update(zip(_NET_FIELDS, values, strict=True))
        found.append(entry)
    return found or None
