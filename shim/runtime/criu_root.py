"""The mount namespace criu restores from: private, with the rootfs ready as criu's root.

runc binds the rootfs onto a directory in its state dir, on the host, and creates
the config's mountpoints in the rootfs (binding each bind source first, so that
mountpoints inside binds can be made too: runc issue 2748). Here the same happens
in a mount namespace of criu's own, entered between fork and exec: nothing is ever
mounted on the host, and whatever happens to us, nothing is left mounted.

criu wants its root to be a mount point whose parent is not overmounted; the rootfs
bound onto itself is one. Mountpoints are created inside the rootfs by fd
(openat2 RESOLVE_IN_ROOT), never through a path a symlink in the rootfs could steer.
"""

from __future__ import annotations

import os
import stat

from shim.errors import ShimError
from shim.runtime.criu_mounts import bind_source, is_bind, tmpfs_destinations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from shim.spec.model import Spec

CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000


class MountPlan:
    """What prepare() does: (container path, bind source or "", source is a file) for
    each mountpoint; `dirs`: the directories to open once the namespace is ready."""

    __slots__ = ("dirs", "points", "rootfs")

    def __init__(self, rootfs: str, points: list[tuple[str, str, bool]]) -> None:
        self.rootfs = rootfs
        self.points = points
        self.dirs: list[str] = []


def _clean(path: str) -> str:
    return os.path.normpath("/" + path).replace("//", "/")


def _under(path: str, prefixes: list[str]) -> bool:
    return any(path.startswith(p.rstrip("/") + "/") for p in prefixes)


def plan_mounts(spec: Spec, rootfs: str, bundle: str) -> MountPlan:
    """runc's prepareCriuRestoreMounts, decided in the parent: every config mountpoint
    not inside a tmpfs (criu restores those with their content), cgroup mounts aside
    (their mountpoints come with the /sys/fs/cgroup tmpfs or with /sys)."""
    tmpfs = tmpfs_destinations(spec)
    points: list[tuple[str, str, bool]] = []
    for m in spec.mounts:
        dest = _clean(m.destination)
        if _under(dest, tmpfs) or m.type in ("cgroup", "cgroup2"):
            continue
        source = bind_source(m, bundle) if is_bind(m) else ""
        is_file = False
        if source:
            try:
                is_file = not stat.S_ISDIR(os.stat(source).st_mode)
            except OSError as err:
                raise ShimError(f"bind source {source}: {err.strerror}") from None
        points.append((dest, source, is_file))
    return MountPlan(rootfs, points)


def preparer(plan: MountPlan, dirs: list[str]) -> Callable[[], list[int]]:
    """The function criu's child runs before its exec (raises OSError/ShimError). It
    returns fds of `dirs` opened inside the new namespace: criu opens its image and
    work dirs through /proc/<our pid>/fd/N, and it mounts in its work dir (its cgroup
    yard), which it can only do on a mount of its own namespace."""
    plan.dirs = dirs
    return lambda: _prepare(plan)


def _prepare(plan: MountPlan) -> list[int]:
    from shim.sys import mount, unmount_detach, unshare

    unshare(CLONE_NEWNS)
    mount("", "/", "", MS_REC | MS_PRIVATE)  # nothing we do here reaches the host
    mount(plan.rootfs, plan.rootfs, "", MS_BIND | MS_REC)
    root = os.open(plan.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    bound: list[str] = []
    try:
        for dest, source, is_file in plan.points:
            try:
                fd = _mountpoint(root, dest.strip("/"), is_file)
            except OSError as err:  # e.g. a dangling symlink: refused, never followed out
                raise ShimError(
                    f"restore: mountpoint {dest} in the rootfs: {os.strerror(err.errno or 0)}"
                ) from None
            try:
                if source:  # so that mountpoints of later mounts inside it can be made
                    mount(source, f"/proc/self/fd/{fd}", "", MS_BIND | MS_REC)
                    bound.append(dest)
            finally:
                os.close(fd)
        for dest in reversed(bound):  # criu mounts the binds itself, from ext_mnt
            fd = _open_in_root(root, dest.strip("/"))
            try:
                unmount_detach(f"/proc/self/fd/{fd}")
            finally:
                os.close(fd)
    finally:
        os.close(root)
    return [os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) for d in plan.dirs]


def _open_in_root(root: int, rel: str) -> int:
    from shim.sys import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2

    return openat2(
        root, rel or ".", os.O_PATH | os.O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
    )


def _mountpoint(root: int, rel: str, is_file: bool) -> int:
    """An O_PATH fd of `rel` inside the rootfs, made (mkdir -p, or an empty file) if missing."""
    try:
        return _open_in_root(root, rel)
    except FileNotFoundError:
        pass
    parent, name = os.path.split(rel)
    parent_fd = _mountpoint(root, parent, False) if parent else os.dup(root)
    try:
        if is_file:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            os.close(os.open(name, flags, 0o755, dir_fd=parent_fd))
        else:
            os.mkdir(name, 0o755, dir_fd=parent_fd)
    except FileExistsError:
        pass  # made meanwhile, or a dangling symlink: the open below decides
    finally:
        os.close(parent_fd)
    return _open_in_root(root, rel)
