"""What criu must be told about the container's mounts, as runc tells it.

criu dumps the container's mount namespace itself, except mounts whose source lies
outside it: the config's bind mounts, the binds of the container's own cgroup dirs
that stand for a `cgroup` mount, the /dev/null binds over masked files and (with a
user namespace) device nodes bound from the host. Each is "external": at dump the
mountpoint is named by a key (`ext_mnt key=val`, val is the key recorded in the
image), at restore the key is mapped to the host path to bind from.

    dump:     /data -> /data         /sys/fs/cgroup/cpu -> /sys/fs/cgroup/cpu
              /proc/kcore -> /dev/null
    restore:  /data -> <bundle>/data  /sys/fs/cgroup/cpu -> <new container's cpu cgroup>
              /dev/null -> /dev/null

Keys are mountpoints as the container sees them: a destination's symlinks are
resolved inside the rootfs first (runc's securejoin), as the helper did when it
mounted there.
"""

from __future__ import annotations

import os
import stat

from shim.init.mount_options import MS_BIND, parse_options
from shim.init.rootfs_plan import DEFAULT_DEVICES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.spec.model import Mount, Spec

MASK_KEY = "/dev/null"


def _clean(path: str) -> str:
    return os.path.normpath("/" + path).replace("//", "/")


def container_path(rootfs: str, dest: str) -> str:
    """`dest` with its symlinks resolved inside `rootfs` (what the kernel mounted on);
    the lexical path when it does not exist (nothing was mounted there either)."""
    from shim.sys import RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, openat2

    root = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = openat2(
            root, _clean(dest).lstrip("/") or ".", os.O_PATH | os.O_CLOEXEC,
            RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        )  # fmt: skip
    except OSError:
        return _clean(dest)
    finally:
        os.close(root)
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
    rootfs = os.path.realpath(rootfs)
    if real == rootfs:
        return "/"
    if real.startswith(rootfs + "/"):
        return real[len(rootfs) :]
    return _clean(dest)  # moved away under us: the lexical path is all we have


def is_bind(m: Mount) -> bool:
    return m.type == "bind" or bool(parse_options(m.options, "mounts").flags & MS_BIND)


def _is_cgroup(m: Mount) -> bool:
    return m.type in ("cgroup", "cgroup2") and not is_bind(m)


def bind_source(m: Mount, bundle: str) -> str:
    """A bind's host source, relative ones from the bundle (as create resolves them)."""
    return m.source if os.path.isabs(m.source) else os.path.join(bundle, m.source)


def _cgroup_binds(dest: str, cgroup_dirs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(mountpoint, host dir) of the binds rootfs_plan makes for a cgroup mount."""
    if len(cgroup_dirs) == 1 and cgroup_dirs[0][0] == "":
        return [(dest, cgroup_dirs[0][1])]
    return [(f"{dest}/{name}", host_dir) for name, host_dir in cgroup_dirs]


def _device_paths(spec: Spec) -> list[str]:
    paths = [path for path, _, _ in DEFAULT_DEVICES]
    paths += [_clean(d.path) for d in spec.linux.devices] if spec.linux else []
    return list(dict.fromkeys(paths))


def dump_mounts(
    spec: Spec, rootfs: str, cgroup_dirs: list[tuple[str, str]], masked_files: list[str]
) -> list[tuple[str, str]]:
    """ext_mnt (key, val) pairs for DUMP. `masked_files`: the masked paths that are
    files in the running container (directories are masked with a tmpfs criu dumps)."""
    pairs: list[tuple[str, str]] = []
    for m in spec.mounts:
        if _is_cgroup(m):
            binds = _cgroup_binds(_clean(m.destination), cgroup_dirs)
            pairs += [
                (container_path(rootfs, point), container_path(rootfs, point)) for point, _ in binds
            ]
        elif is_bind(m):
            key = container_path(rootfs, m.destination)
            pairs.append((key, key))
    pairs += [(path, MASK_KEY) for path in masked_files]
    pairs += [(path, path) for path in _device_paths(spec)]
    return pairs


def restore_mounts(
    spec: Spec, rootfs: str, bundle: str, cgroup_dirs: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """ext_mnt (key, host source) pairs for RESTORE, the keys dump_mounts recorded."""
    pairs: list[tuple[str, str]] = []
    for m in spec.mounts:
        if _is_cgroup(m):
            binds = _cgroup_binds(_clean(m.destination), cgroup_dirs)
            pairs += [(container_path(rootfs, point), host_dir) for point, host_dir in binds]
        elif is_bind(m):
            pairs.append((container_path(rootfs, m.destination), bind_source(m, bundle)))
    if spec.linux and spec.linux.masked_paths:
        pairs.append((MASK_KEY, MASK_KEY))
    pairs += [(path, path) for path in _device_paths(spec)]
    return pairs


def masked_files(spec: Spec, init_pid: int) -> list[str]:
    """The masked paths that exist as non-directories in the container (runc's rule)."""
    found: list[str] = []
    for path in spec.linux.masked_paths if spec.linux else []:
        try:
            st = os.stat(f"/proc/{init_pid}/root/{path.lstrip('/')}")
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode):
            found.append(_clean(path))
    return found


def tmpfs_destinations(spec: Spec) -> list[str]:
    """Where the config mounts tmpfs: criu restores their content, mountpoints and all."""
    return [_clean(m.destination) for m in spec.mounts if m.type == "tmpfs" and not is_bind(m)]
