"""Create's `rootfs` mounts onto `<bundle>/rootfs`, as containerd's `mount.All` does.

containerd hands the snapshot as mounts: `bind` of a directory (the native snapshotter),
`overlay` with lowerdir/upperdir/workdir, a block device... Each is mounted in order on
the bundle's (empty) rootfs directory: flags from the options runc knows, the rest as
the filesystem's data. With no mounts, config.json's root.path points elsewhere
(`ctr run --rootfs`) and nothing is mounted.
"""

from __future__ import annotations

import os

from shim.errors import InvalidArgument
from shim.init.mount_options import MS_BIND, MS_RDONLY, MS_REMOUNT, parse_options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.shimv2.proto.mount_pb2 import Mount

_PROPAGATION_ONLY = ("rprivate", "private", "rslave", "slave", "rshared", "shared")


def mount_all(mounts: list[Mount], target: str) -> int:
    """Mount each in order on `target`; how many were mounted. On a failure, what was
    mounted is undone and InvalidArgument names the mount."""
    from shim.sys import mount

    done = 0
    try:
        for m in mounts:
            options = [o for o in m.options if o not in _PROPAGATION_ONLY]
            parsed = parse_options(options, f"rootfs mount {m.type}")
            flags = parsed.flags | (MS_BIND if m.type == "bind" else 0)
            try:
                mount(m.source, target, m.type, flags, ",".join(parsed.data))
                done += 1
                if flags & MS_BIND and flags & MS_RDONLY:  # a bind is read-only only remounted
                    mount("", target, "", flags | MS_REMOUNT, "")
            except OSError as err:
                raise InvalidArgument(
                    f"mount rootfs {m.type} {m.source} on {target}: {err.strerror}"
                ) from err
    except BaseException:
        unmount_all(target, done)
        raise
    return done


def unmount_all(target: str, count: int | None = None) -> None:
    """Detach what is mounted on `target` (`count` layers, or all of them)."""
    from shim.sys import unmount_detach

    n = 0
    while (count is None or n < count) and os.path.ismount(target) and unmount_detach(target):
        n += 1
