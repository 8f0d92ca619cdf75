"""Tearing a container down, whatever state it was left in.

`create` keeps a journal (journal.json in the state dir) of the cgroups it made
and the helper pids it started, so that `delete --force` after a killed
`create` still finds and removes everything.
"""

from __future__ import annotations

import _signal  # the C module: `signal` builds enums at import, ~2 ms
import os
import time

from shim.cancel import wait_readable
from shim.cgroups.placement import procs, remove
from shim.errors import ShimError, TimedOut
from shim.json_codec import dumps, loads
from shim.logs import get_logger
from shim.runtime.state_store import ContainerDir
from shim.runtime.status import init_alive, proc_stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cancel import CancelToken
    from shim.children import ChildReaper
    from shim.runtime.hooks import HookSpec

JOURNAL = "journal.json"
ROOTFS_MOUNT_FILE = "rootfs.mount"  # host_mounts.MOUNT_FILE, read only when it is there
KILL_WAIT = 10.0  # runc polls up to 10 s for a killed init to go


class Journal:
    """What a create made so far. `delete --force` SIGKILLs the pids it lists and removes
    the cgroups it names, so it is written like state.json: 0600 whatever the umask,
    never through a symlink, replaced whole by a rename (a SIGKILL mid-write leaves the
    previous one)."""

    __slots__ = ("cgroup_created", "cgroup_paths", "path", "pids")

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, JOURNAL)
        self.cgroup_created: list[str] = []  # made by this create (or about to be)
        self.cgroup_paths: dict[str, str] = {}  # the container's cgroups, to sweep
        self.pids: list[tuple[int, int]] = []

    def record(
        self,
        *,
        cgroup_created: list[str] | None = None,
        cgroup_paths: dict[str, str] | None = None,
        pids: list[int] | None = None,
    ) -> None:
        if cgroup_created is not None:
            self.cgroup_created = cgroup_created
        if cgroup_paths is not None:
            self.cgroup_paths = cgroup_paths
        if pids is not None:
            self.pids = [(pid, st[1]) for pid in pids if (st := proc_stat(pid)) is not None]
        data = {
            "cgroup_created": self.cgroup_created,
            "cgroup_paths": self.cgroup_paths,
            "pids": [list(x) for x in self.pids],
        }
        tmp = f"{self.path}.tmp"
        try:
            os.unlink(tmp)  # a stale one (or something planted): unlink never follows
        except FileNotFoundError:
            pass
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o600)
        try:
            os.fchmod(fd, 0o600)  # the umask may have taken more
            os.write(fd, dumps(data).encode())
        finally:
            os.close(fd)
        os.rename(tmp, self.path)

    def load(self) -> Journal:
        """Re-read what an earlier (perhaps killed) create recorded; empty if nothing (or
        if journal.json is not a plain file of ours)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:  # none, or a symlink (ELOOP): nothing we wrote
            return self
        try:
            with os.fdopen(fd, "rb") as f:
                data = loads(f.read())
        except ValueError:
            return self
        if isinstance(data, dict):
            created, paths, pids = (data.get(k) for k in ("cgroup_created", "cgroup_paths", "pids"))
            if isinstance(created, list):
                self.cgroup_created = [str(d) for d in created]
            if isinstance(paths, dict):
                self.cgroup_paths = {str(k): str(v) for k, v in paths.items()}
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


def kill_and_wait(
    pid: int, start_time: int, timeout: float = KILL_WAIT, cancel: CancelToken | None = None
) -> bool:
    """SIGKILL a process if it is still the one we started; wait until it has exited. True
    if gone. Never reaps: if it is our child, the process's reaper collects it."""
    if not init_alive(pid, start_time):
        return True
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if not init_alive(pid, start_time):  # the pidfd now pins this process: check once more
            return True
        _signal.pidfd_send_signal(pidfd, _signal.SIGKILL)
        wait_readable([pidfd], time.monotonic() + timeout, cancel, f"wait for process {pid}")
    except ProcessLookupError:
        pass
    except TimedOut:
        return False
    finally:
        os.close(pidfd)
    return True


def sweep_cgroups(cgroup_paths: dict[str, str], cancel: CancelToken | None = None) -> None:
    """SIGKILL whatever is left in the container's cgroups (only ever ours): `cgroup.kill`
    on v2, freeze + SIGKILL + thaw on v1 (a frozen task dies only once thawed, and a
    running one could fork meanwhile). Done before waiting on the init: a pid namespace's
    init cannot finish exiting while another process of its namespace (an exec'd one,
    whose parent is not the init) is alive."""
    if not cgroup_paths:
        return
    deadline = time.monotonic() + KILL_WAIT
    manager = None
    while True:
        try:
            if not procs(cgroup_paths):
                return  # the usual case: the manager (and the freezer) never load
            if manager is None:
                from shim.cgroups.manager import manager_for

                manager = manager_for(cgroup_paths)
            manager.signal_all(_signal.SIGKILL)
        except ShimError as err:
            get_logger().error(f"kill the container's processes: {err}")
            return
        if time.monotonic() >= deadline:
            get_logger().error("container processes still running after SIGKILL")
            return
        if cancel is not None:
            cancel.check("delete")
        time.sleep(0.005)


def destroy(
    cdir: ContainerDir,
    journal: Journal,
    *,
    poststop: list[HookSpec],
    bundle: str,
    reaper: ChildReaper,
    cgroup_paths: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    cancel: CancelToken | None = None,
) -> None:
    """Kill, remove cgroups and the state dir, then run poststop hooks (failures only logged).

    Without `cgroup_paths` (a create that died before state.json) the journal's are swept.
    """
    log = get_logger()
    if cgroup_paths is None:
        cgroup_paths = journal.cgroup_paths
    if cgroup_paths:
        created = set(journal.cgroup_created)
        sweep_cgroups({k: v for k, v in cgroup_paths.items() if v in created}, cancel)
    for pid, start in journal.pids:
        if not kill_and_wait(pid, start, cancel=cancel):
            log.error(f"container process {pid} still running after SIGKILL")
    try:
        remove(journal.cgroup_created)
    except ShimError as err:
        log.error(str(err))
    if os.path.exists(os.path.join(cdir.path, ROOTFS_MOUNT_FILE)):  # no mount namespace
        from shim.runtime.host_mounts import release_rootfs_bind

        try:
            release_rootfs_bind(cdir.path)
        except OSError as err:
            log.error(f"detach the rootfs bind: {err.strerror}")
    cdir.remove()
    if poststop:
        from shim.runtime.hooks import run_hooks_warning
        from shim.spec.oci_state import oci_state

        state = oci_state(cdir.id, "stopped", 0, bundle, annotations or {})
        run_hooks_warning(poststop, state, bundle, "poststop", reaper, cancel)
