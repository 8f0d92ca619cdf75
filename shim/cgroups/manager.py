"""One container's cgroups behind one interface, whatever the host's layout.

    V1Manager      every v1 controller (the `paths` of `shim.cgroups.paths`)
    V2Manager      one unified directory (`paths[""]`)
    HybridManager  v1 controllers for resources and the freezer, plus the unified
                   directory for `cgroup.kill` (systemd's hybrid layout; runc 1.1
                   does not use the unified tree for resources there either)

`manager_for(paths)` picks one from the keys alone, so one-shot commands need not
read mountinfo again. Every method is synchronous and short; events and stats
streams build on `stats()` and `oom_watch()`.
"""

from __future__ import annotations

import _signal
import os

from shim.cgroups import fs
from shim.cgroups.placement import is_frozen, procs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Protocol

    from shim.cgroups.devices import Rule
    from shim.cgroups.oom import OomWatch
    from shim.spec.resources import Resources

    class Manager(Protocol):
        """What the runtime asks of a container's cgroups."""

        mode: str
        paths: dict[str, str]

        def apply(self, res: Resources | None, rules: list[Rule] | None = None) -> None:
            """Write the limits (and device rules unless None); raises naming the field."""

        def freeze(self) -> None: ...
        def thaw(self) -> None: ...
        def frozen(self) -> bool: ...
        def pids(self) -> list[int]: ...
        def signal_all(self, sig: int) -> None:
            """Signal every process in the cgroup tree, frozen so none escapes by forking."""

        def stats(self) -> dict[str, object]:
            """runc's `events --stats` data object."""

        def oom_watch(self) -> OomWatch: ...
        def exists(self) -> bool:
            """Whether the memory cgroup (what `events` follows) is still there."""


class V1Manager:
    mode = "v1"

    def __init__(self, paths: Mapping[str, str]) -> None:
        self.paths = dict(paths)

    def apply(self, res: Resources | None, rules: list[Rule] | None = None) -> None:
        from shim.cgroups.v1 import apply_v1

        apply_v1(self.paths, _or_empty(res), rules)

    def freeze(self) -> None:
        directory = self.paths.get("freezer")
        if directory is None:
            from shim.errors import Unsupported

            raise Unsupported("pause: the freezer cgroup controller is not mounted")
        from shim.cgroups.freezer import freeze_v1

        freeze_v1(directory)

    def thaw(self) -> None:
        directory = self.paths.get("freezer")
        if directory is not None and os.path.isdir(directory):
            from shim.cgroups.freezer import thaw_v1

            thaw_v1(directory)

    def frozen(self) -> bool:
        return is_frozen({"freezer": self.paths["freezer"]} if "freezer" in self.paths else {})

    def pids(self) -> list[int]:
        return procs(self.paths)

    def signal_all(self, sig: int) -> None:
        _freeze_signal_thaw(self, sig)

    def stats(self) -> dict[str, object]:
        from shim.cgroups.stats import stats_v1

        return stats_v1(self.paths)

    def oom_watch(self) -> OomWatch:
        from shim.cgroups.oom import V1OomWatch

        return V1OomWatch(self.paths["memory"])

    def exists(self) -> bool:
        directory = self.paths.get("memory") or self.paths.get("devices")
        return directory is not None and os.path.isdir(directory)


class HybridManager(V1Manager):
    mode = "hybrid"

    def signal_all(self, sig: int) -> None:
        if sig == _signal.SIGKILL and _cgroup_kill(self.paths[""]):
            self.thaw()  # a v1-frozen task dies only once thawed
            return
        _freeze_signal_thaw(self, sig)


class V2Manager:
    mode = "v2"

    def __init__(self, paths: Mapping[str, str]) -> None:
        self.paths = dict(paths)
        self.directory = self.paths[""]

    def apply(self, res: Resources | None, rules: list[Rule] | None = None) -> None:
        from shim.cgroups.v2 import apply_v2

        apply_v2(self.directory, _or_empty(res), rules)

    def freeze(self) -> None:
        from shim.cgroups.freezer import freeze_v2

        freeze_v2(self.directory)

    def thaw(self) -> None:
        if os.path.isdir(self.directory):
            from shim.cgroups.freezer import thaw_v2

            thaw_v2(self.directory)

    def frozen(self) -> bool:
        return is_frozen(self.paths)

    def pids(self) -> list[int]:
        return procs(self.paths)

    def signal_all(self, sig: int) -> None:
        if sig == _signal.SIGKILL and _cgroup_kill(self.directory):
            self.thaw()
            return
        _freeze_signal_thaw(self, sig)

    def stats(self) -> dict[str, object]:
        from shim.cgroups.stats import stats_v2

        return stats_v2(self.directory)

    def oom_watch(self) -> OomWatch:
        from shim.cgroups.oom import V2OomWatch

        return V2OomWatch(self.directory)

    def exists(self) -> bool:
        return os.path.isdir(self.directory)


def manager_for(paths: Mapping[str, str]) -> Manager:
    """The manager for a container's `cgroup_paths` (v2: only the `""` key)."""
    if set(paths) == {""}:
        return V2Manager(paths)
    if "" in paths:
        return HybridManager(paths)
    return V1Manager(paths)


def _or_empty(res: Resources | None) -> Resources:
    if res is not None:
        return res
    from shim.spec.resources import Resources

    return Resources()


def _cgroup_kill(directory: str) -> bool:
    """SIGKILL the whole tree through `cgroup.kill` (Linux 5.14+); False if there is none."""
    path = f"{directory}/cgroup.kill"
    if not os.path.exists(path):
        return False
    try:
        fs.write_raw(path, "1")
    except OSError:
        return False
    return True


def _freeze_signal_thaw(manager: V1Manager | V2Manager, sig: int) -> None:
    """runc's signalAllProcesses: freeze, signal every pid, thaw (also if it was paused)."""
    from shim.errors import ShimError

    try:
        manager.freeze()
    except ShimError:
        pass  # runc only warns: signalling unfrozen is still better than not at all
    try:
        for pid in manager.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    finally:
        manager.thaw()
