"""The one mount a container without a mount namespace leaves in ours: its rootfs bind.

Without a mount namespace the helper binds the rootfs onto itself in the runtime's mount
namespace (so a read-only root never remounts the host's filesystem) and mounts the
config's mounts below that bind. runc leaves all of it mounted after delete; we note the
bind's mount id once the helper made it and detach it (and everything on it) at delete.
The id, not the path: the rootfs may itself be a mount of someone else's (containerd's).
"""

from __future__ import annotations

import os

MOUNT_FILE = "rootfs.mount"  # in the container's state dir: "<mount id> <path>"


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as \\ooo."""
    parts = field.split("\\")
    return parts[0] + "".join(chr(int(p[:3], 8)) + p[3:] for p in parts[1:])


def _mounts_at(path: str) -> list[tuple[int, int]]:
    """(mount id, parent id) of every mount on `path`, from our mountinfo."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split()
            if _unescape(fields[4]) == path:
                found.append((int(fields[0]), int(fields[1])))
    return found


def _top(path: str) -> int | None:
    """The id of the topmost mount on `path`: the one no other mount there sits on."""
    mounts = _mounts_at(path)
    parents = {parent for _, parent in mounts}
    tops = [mid for mid, _ in mounts if mid not in parents]
    return tops[-1] if tops else None


def record_rootfs_bind(state_dir: str, rootfs: str) -> None:
    """Called while the helper waits in READY: the top mount on the rootfs is its bind."""
    mount_id = _top(rootfs)
    if mount_id is not None:
        with open(os.path.join(state_dir, MOUNT_FILE), "w", encoding="utf-8") as f:
            f.write(f"{mount_id} {rootfs}")


def release_rootfs_bind(state_dir: str) -> None:
    """Detach the recorded bind if it is still the top mount on its path (else: gone)."""
    try:
        with open(os.path.join(state_dir, MOUNT_FILE), encoding="utf-8") as f:
            mount_id, _, rootfs = f.read().partition(" ")
    except FileNotFoundError:
        return
    if mount_id.isdigit() and _top(rootfs) == int(mount_id):
        from shim.sys import unmount_detach

        unmount_detach(rootfs)
