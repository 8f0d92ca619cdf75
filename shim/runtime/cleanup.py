"""Tearing a container down, whatever state it was left in.

`create` keeps a journal (journal.json in the state dir) of the cgroups it made
and the helper pids it started, so that `delete --force` after a killed
`create` still finds and removes everything.
"""

from __future__ import annotations

import _signal  # the C module: `signal` builds enums at import, ~2 ms
import os
import select
import time

from shim.cgroups.placement import procs, remove
from shim.errors import ShimError
from shim.json_codec import dumps, loads
from shim.logs import get_logger
from shim.runtime.hooks import HookSpec, run_hooks_warning
from shim.runtime.state_store import ContainerDir
from shim.runtime.status import init_alive, proc_stat
from shim.spec.oci_state import oci_state

JOURNAL = "journal.json"
KILL_WAIT = 10.0  # runc polls up to 10 s for a killed init to go


class Journal:
    __slots__ = ("cgroup_created", "path", "pids")

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, JOURNAL)
        self.cgroup_created: list[str] = []
        self.pids: list[tuple[int, int]] = []

    def record(
        self, *, cgroup_created: list[str] | None = None, pids: list[int] | None = None
    ) -> None:
        if cgroup_created is not None:
            self.cgroup_created = cgroup_created
        if pids is not None:
            self.pids = [(pid, st[1]) for pid in pids if (st := proc_stat(pid)) is not None]
        with open(self.path, "w") as f:
            f.write(
                dumps({"cgroup_created": self.cgroup_created, "pids": [list(x) for x in self.pids]})
            )

    def load(self) -> Journal:
        """Re-read what an earlier (perhaps killed) create recorded; empty if nothing."""
        try:
            with open(self.path, "rb") as f:
                data = loads(f.read())
        except (FileNotFoundError, ValueError):
            return self
        if isinstance(data, dict):
            created, pids = data.get("cgroup_created"), data.get("pids")
            if isinstance(created, list):
                self.cgroup_created = [str(d) for d in created]
            if isinstance(pids, list):
                self.pids = [
                    (int(x[0]), int(x[1])) for x in pids if isinstance(x, list) and len(x) == 2
                ]
        return self

    def clear(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def kill_and_wait(pid: int, start_time: int, timeout: float = KILL_WAIT) -> bool:
    """SIGKILL a process if it is still the one we started; wait until it is gone. True if gone."""
    if not init_alive(pid, start_time):
        _reap_if_child(pid)
        return True
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if not init_alive(pid, start_time):  # the pidfd now pins this process: check once more
            return True
        _signal.pidfd_send_signal(pidfd, _signal.SIGKILL)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        gone = bool(poller.poll(timeout * 1000))
    except ProcessLookupError:
        gone = True
    finally:
        os.close(pidfd)
    _reap_if_child(pid)
    return gone


def _reap_if_child(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _kill_cgroup(cgroup_paths: dict[str, str]) -> None:
    """Whatever is left in the container's cgroup (only ever ours) gets SIGKILL."""
    deadline = time.monotonic() + KILL_WAIT
    while cgroup_paths and time.monotonic() < deadline:
        pids = procs(cgroup_paths)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, _signal.SIGKILL)
            except ProcessLookupError:
                pass
            _reap_if_child(pid)
        time.sleep(0.01)


def destroy(
    cdir: ContainerDir,
    journal: Journal,
    *,
    poststop: list[HookSpec],
    bundle: str,
    cgroup_paths: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> None:
    """Kill, remove cgroups and the state dir, then run poststop hooks (failures only logged)."""
    log = get_logger()
    for pid, start in journal.pids:
        if not kill_and_wait(pid, start):
            log.error(f"container process {pid} still running after SIGKILL")
    if cgroup_paths:
        created = set(journal.cgroup_created)
        _kill_cgroup({k: v for k, v in cgroup_paths.items() if v in created})
    try:
        remove(journal.cgroup_created)
    except ShimError as err:
        log.error(str(err))
    cdir.remove()
    if poststop:
        state = oci_state(cdir.id, "stopped", 0, bundle, annotations or {})
        run_hooks_warning(poststop, state, bundle, "poststop")
