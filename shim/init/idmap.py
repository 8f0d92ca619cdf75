"""User namespace id maps, written by the parent into /proc/<H1>/ while H1 waits.

From outside the namespace the parent has the rights a process inside lacks (several
ranges, ids other than its own). Every /proc write is checked to land on procfs.
"""

from __future__ import annotations

import os
from itertools import pairwise

from shim.errors import InitFailed, InvalidConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.spec.model import IDMapping

MAX_LINES = 340  # the kernel's limit on uid_map/gid_map lines


def map_text(mappings: list[IDMapping], field: str) -> str:
    """The uid_map/gid_map text; InvalidConfig naming the field for what the kernel refuses."""
    if len(mappings) > MAX_LINES:
        raise InvalidConfig(
            f"{field}: {len(mappings)} ranges; the kernel takes at most {MAX_LINES}"
        )
    ranges = []
    for i, m in enumerate(mappings):
        if m.size == 0 or m.container_id + m.size > 1 << 32 or m.host_id + m.size > 1 << 32:
            raise InvalidConfig(f"{field}[{i}]: range overflows 32-bit ids")
        ranges.append((m.container_id, m.size, i))
    ranges.sort()
    for (a, size, i), (b, _, j) in pairwise(ranges):
        if a + size > b:
            raise InvalidConfig(f"{field}[{j}]: overlaps {field}[{i}]")
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)


def _write_proc(pid: int, name: str, text: str) -> None:
    path = f"/proc/{pid}/{name}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        raise InitFailed(f"open {path}: {err.strerror}") from None
    try:
        os.write(fd, text.encode())
    except OSError as err:
        raise InitFailed(f"write {path} ({text.strip()!r}): {err.strerror}") from None
    finally:
        os.close(fd)


def write_id_maps(pid: int, uid_text: str, gid_text: str, deny_setgroups: bool) -> None:
    """setgroups (when asked to deny), then uid_map, then gid_map: the kernel's order."""
    if deny_setgroups:
        _write_proc(pid, "setgroups", "deny")
    _write_proc(pid, "uid_map", uid_text)
    _write_proc(pid, "gid_map", gid_text)
