"""A container's status, derived from the live process the way runc does it (never stored).

    frozen cgroup                          -> paused
    init gone, zombie, or a different
      process under the same pid           -> stopped
    exec.fifo still there                  -> created
    otherwise                              -> running

Pid reuse cannot fool this: the init's start time (field 22 of /proc/PID/stat)
was recorded at create and must still match.
"""

from __future__ import annotations

import os

from shim.cgroups.placement import is_frozen
from shim.errors import WrongState

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.runtime.state_store import State

CREATED, RUNNING, PAUSED, STOPPED = "created", "running", "paused", "stopped"

# (status, operation) -> allowed. Operations ask here; nobody compares statuses.
ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {
        (CREATED, "start"),
        (CREATED, "kill"),
        (RUNNING, "kill"),
        (PAUSED, "kill"),
        (CREATED, "delete"),
        (STOPPED, "delete"),
        (CREATED, "pause"),
        (RUNNING, "pause"),
        (PAUSED, "resume"),
        *((status, "update") for status in (CREATED, RUNNING, PAUSED)),
        *((status, "events") for status in (CREATED, RUNNING, PAUSED)),
        *((status, "ps") for status in (CREATED, RUNNING, PAUSED, STOPPED)),
        (RUNNING, "checkpoint"),
        (PAUSED, "checkpoint"),
    }
)
# runc's texts for a refused move.
REFUSALS: dict[tuple[str, str], str] = {
    (RUNNING, "start"): "cannot start an already running container",
    (STOPPED, "start"): "cannot start a container that has stopped",
    (PAUSED, "start"): "cannot start a container in the paused state",
    (STOPPED, "kill"): "container not running",
    (RUNNING, "delete"): "cannot delete container {id} that is not stopped: running",
    (PAUSED, "delete"): "cannot delete container {id} that is not stopped: paused",
    **{(status, "pause"): "container not running" for status in (PAUSED, STOPPED)},
    **{(status, "resume"): "container not paused" for status in (CREATED, RUNNING, STOPPED)},
    (STOPPED, "update"): "container not running",
    (STOPPED, "events"): "container with id {id} is not running",
    **{
        (s, "checkpoint"): f"Container cannot be checkpointed in {s} state"
        for s in (CREATED, STOPPED)
    },
}


def require(status: str, op: str, container_id: str) -> None:
    """Raise WrongState (with runc's text) unless `op` is allowed in `status`."""
    if (status, op) not in ALLOWED:
        text = REFUSALS.get((status, op), f"cannot {op} a container that is {status}")
        raise WrongState(text.format(id=container_id))


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a live pid, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm may hold spaces and parentheses: the fields start after the last ')'.
    fields = raw[raw.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[19])


def init_alive(pid: int, start_time: int) -> bool:
    if pid <= 0:
        return False
    st = proc_stat(pid)
    return st is not None and st[1] == start_time and st[0] not in ("Z", "X")


def open_init(state: State, refusal: str = "container not running") -> int:
    """A pidfd of the container's init, checked to be the process create started: once
    the pidfd is open the pid cannot be reused under us. WrongState(refusal) if it is gone."""
    try:
        pidfd = os.pidfd_open(state.pid)
    except ProcessLookupError:
        raise WrongState(refusal) from None
    if not init_alive(state.pid, state.start_time):
        os.close(pidfd)
        raise WrongState(refusal)
    return pidfd


def status_of(pid: int, start_time: int, cgroup_paths: dict[str, str], fifo_path: str) -> str:
    if cgroup_paths and is_frozen(cgroup_paths):
        return PAUSED
    if not init_alive(pid, start_time):
        return STOPPED
    return CREATED if os.path.exists(fifo_path) else RUNNING
