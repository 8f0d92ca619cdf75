"""Make, join, inspect and remove a container's cgroup directories (v1, v2, hybrid).

Every call takes the `paths` map from `shim.cgroups.paths` (controller -> directory,
`""` -> unified directory); co-mounted controllers share a directory, which is then
handled once. Only `os` calls are used; `create` and `remove` may sleep briefly
(bounded), so async callers run them in a worker thread.
"""

from __future__ import annotations

import errno
import os
import time

from shim.errors import CgroupError

TYPE_CHECKING = False  # typing stays unimported at run time
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

REMOVE_TIMEOUT = 2.0  # seconds: a reaped zombie leaves its cgroup a little late
_CPUSET_FILES = ("cpuset.cpus", "cpuset.mems")
_MISSING = (errno.ENOENT, errno.ENODEV)  # ENODEV: a controller file the kernel lacks


def create(paths: Mapping[str, str]) -> list[str]:
    """Make every missing directory in `paths`, like `mkdir -p`; return those made.

    The result lists exactly the directories this call created, parents before
    children, for `remove`. Every empty v1 cpuset from the hierarchy's root down to the
    container's, made here or not, gets `cpuset.cpus`/`.mems` from its parent (runc's
    ensureParent: an empty cpuset refuses tasks, and its children any set at all).
    Raises `CgroupError` with runc's text when the container's cgroup already exists
    frozen, or naming the directory or file that failed; on failure whatever this
    call made is removed again.
    """
    if is_frozen(paths):
        raise CgroupError("container's cgroup unexpectedly frozen")
    created: list[str] = []
    try:
        for directory in _unique(paths.values()):
            _makedirs(directory, created)
        cpuset = paths.get("cpuset")
        if cpuset is not None:
            _fill_cpusets(cpuset)
    except BaseException as err:
        try:
            remove(created)
        except CgroupError as cleanup:
            err.add_note(f"cleanup: {cleanup}")
        raise
    return created


def planned(paths: Mapping[str, str]) -> list[str]:
    """The directories `create(paths)` would make now, parents first: for a journal
    written before any of them exists (a killed create must leave none unrecorded)."""
    missing: list[str] = []
    for directory in _unique(paths.values()):
        chain: list[str] = []
        current = directory
        while not os.path.isdir(current) and current not in missing:
            chain.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        missing += reversed(chain)
    return missing


def add_process(paths: Mapping[str, str], pid: int) -> None:
    """Move `pid` (with all its threads) into every directory of `paths`.

    Raises `CgroupError` naming the directory the kernel refused.
    """
    for directory in _unique(paths.values()):
        _write_procs(directory, pid)


def remove(created_dirs: Iterable[str]) -> None:
    """Remove the directories `create` made, deepest first.

    A directory with no other created directory below it is the container's own: the
    cgroups the container made inside it go first. A created parent that still holds
    someone else's cgroup (a sibling container) stays. Missing directories are fine.
    EBUSY is retried for up to `REMOVE_TIMEOUT` seconds in all. Raises `CgroupError`
    naming the first directory that could not be removed.
    """
    dirs = _unique(created_dirs)
    deadline = time.monotonic() + REMOVE_TIMEOUT
    failures: list[tuple[str, OSError]] = []
    for directory in sorted(dirs, key=lambda d: d.count("/"), reverse=True):
        leaf = not any(_is_within(other, directory) for other in dirs if other != directory)
        try:
            if leaf:
                _remove_tree(directory, deadline)
            elif not _subdirs(directory):
                _rmdir(directory, deadline)
        except OSError as err:
            failures.append((directory, err))
    if failures:
        failed, cause = failures[0]
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise CgroupError(f"remove cgroup {failed}: {cause.strerror}{more}") from cause


def is_frozen(paths: Mapping[str, str]) -> bool:
    """Whether the container's cgroup is frozen: v1 freezer or v2 `cgroup.freeze`.

    As in runc, a v1 cgroup frozen only through a frozen ancestor does not count
    (`freezer.self_freezing` is 0), and FREEZING is read again until it settles.
    A directory or file that does not exist means not frozen.
    """
    freezer = paths.get("freezer")
    if freezer is not None and _v1_frozen(freezer):
        return True
    unified = paths.get("")
    return unified is not None and (_read(f"{unified}/cgroup.freeze") or "").strip() == "1"


def procs(paths: Mapping[str, str]) -> list[int]:
    """Pids in the container's cgroup and every cgroup below it, sorted.

    Read from the devices directory on v1 (as runc does), else the unified one.
    A missing directory gives an empty list.
    """
    directory = paths.get("devices", paths.get(""))
    if directory is None:
        directory = next(iter(paths.values()), None)
    found: set[int] = set()
    if directory is not None:
        _collect_procs(directory, found)
    return sorted(found)


def _makedirs(directory: str, created: list[str]) -> None:
    missing: list[str] = []
    current = directory
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            continue  # made meanwhile by someone else: not ours to remove
        except OSError as err:
            raise CgroupError(f"create cgroup {path}: {err.strerror}") from err
        created.append(path)


def _fill_cpusets(directory: str) -> None:
    chain: list[str] = []  # the container's cpuset dir and its ancestors up to the root
    current = directory
    while _read(f"{current}/cpuset.cpus") is not None:
        chain.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for i in range(len(chain) - 2, -1, -1):  # top down: each copies from a filled parent
        below, above = chain[i], chain[i + 1]
        for name in _CPUSET_FILES:
            if not (_read(f"{below}/{name}") or "").strip():
                _write(f"{below}/{name}", (_read(f"{above}/{name}") or "").strip())


def _v1_frozen(directory: str) -> bool:
    for _ in range(1000):
        state = _read(f"{directory}/freezer.state")
        if state is None:
            return False
        state = state.strip()
        if state == "THAWED":
            return False
        if state == "FROZEN":
            self_freezing = _read(f"{directory}/freezer.self_freezing")
            return self_freezing is None or self_freezing.strip() == "1"
        if state != "FREEZING":
            raise CgroupError(f"unknown freezer.state {state!r} in {directory}")
        time.sleep(0.001)
    return True  # stuck in FREEZING for a second: its tasks are not running


def _collect_procs(directory: str, found: set[int]) -> None:
    text = _read(f"{directory}/cgroup.procs")
    if text is None:
        return
    found.update(int(pid) for pid in text.split())
    for child in _subdirs(directory):
        _collect_procs(child, found)


def _remove_tree(directory: str, deadline: float) -> None:
    for child in _subdirs(directory):
        _remove_tree(child, deadline)
    _rmdir(directory, deadline)


def _rmdir(directory: str, deadline: float) -> None:
    delay = 0.01
    while True:
        try:
            os.rmdir(directory)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY or time.monotonic() >= deadline:
                raise
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 0.1)


def _subdirs(directory: str) -> list[str]:
    try:
        with os.scandir(directory) as entries:
            return [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []


def _write_procs(directory: str, pid: int) -> None:
    # EINVAL can mean the task is still TASK_NEW: runc retries a few times too.
    for attempt in range(5):
        try:
            _write_raw(f"{directory}/cgroup.procs", str(pid))
            return
        except OSError as err:
            if err.errno != errno.EINVAL or attempt == 4:
                raise CgroupError(f"add pid {pid} to cgroup {directory}: {err.strerror}") from err
        time.sleep(0.03)


def _read(path: str) -> str | None:
    """The file's text, or None if it (or its directory) does not exist."""
    try:
        with open(path, "rb") as f:  # bytes: a text file would import a codec module
            return f.read().decode("ascii")
    except OSError as err:
        if err.errno in _MISSING:
            return None
        raise CgroupError(f"read {path}: {err.strerror}") from err


def _write(path: str, value: str) -> None:
    try:
        _write_raw(path, value)
    except OSError as err:
        raise CgroupError(f"write {value!r} to {path}: {err.strerror}") from err


def _write_raw(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())  # one write: cgroup files take one value per call
    finally:
        os.close(fd)


def _is_within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _unique(dirs: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(dirs))
