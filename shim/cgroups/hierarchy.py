"""Which cgroup hierarchies this host has, read from mountinfo (never assumed).

The parsers take text so tests feed them fixture strings; `read_hierarchy` and
`read_own_cgroups` are the thin shells that read `/proc/self`.

    v1      only cgroup v1 controller mounts (`/sys/fs/cgroup/<ctrl>`)
    v2      only a cgroup2 mount (controllers live in the unified tree)
    hybrid  v1 controllers plus a cgroup2 tree without controllers
            (systemd's `/sys/fs/cgroup/unified`)
"""

from __future__ import annotations

from shim.errors import CgroupError

TYPE_CHECKING = False  # typing stays unimported at run time
if TYPE_CHECKING:
    from typing import Literal

    Mode = Literal["v1", "v2", "hybrid"]

MOUNTINFO = "/proc/self/mountinfo"
PROC_CGROUP = "/proc/self/cgroup"

# cgroup v1 mount options that are flags, not controllers (`name=`, `release_agent=`
# and the like carry a `=` and are sorted out separately).
_V1_FLAGS = frozenset(
    {"rw", "ro", "none", "all", "noprefix", "clone_children", "xattr", "cpuset_v2_mode"}
    | {"favordynmods", "nofavordynmods"}
)


class Mount:
    """One cgroup filesystem mount: where it is, which cgroup it shows, what it carries.

    `root` is the cgroup shown at `mountpoint` (field 4 of mountinfo): `/` on a host,
    a deeper path for a bind mount or inside a cgroup namespace. `controllers` holds
    the v1 controllers and a named hierarchy as `name=<name>`; it is empty for cgroup2.
    """

    __slots__ = ("controllers", "mountpoint", "root")

    def __init__(self, mountpoint: str, root: str, controllers: tuple[str, ...] = ()) -> None:
        self.mountpoint = mountpoint
        self.root = root
        self.controllers = controllers

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Mount):
            return NotImplemented
        return (self.mountpoint, self.root, self.controllers) == (
            other.mountpoint,
            other.root,
            other.controllers,
        )

    def __hash__(self) -> int:
        return hash((self.mountpoint, self.root, self.controllers))

    def __repr__(self) -> str:
        return f"Mount({self.mountpoint!r}, {self.root!r}, {self.controllers!r})"


class Hierarchy:
    """The host's cgroup layout.

    `v1` maps each v1 controller (`cpu`, `memory`...) and each named hierarchy
    (`name=systemd`) to its mount; co-mounted controllers share one `Mount`.
    `unified` is the cgroup2 mount, if any.
    """

    __slots__ = ("mode", "unified", "v1")

    def __init__(self, mode: Mode, v1: dict[str, Mount], unified: Mount | None) -> None:
        self.mode: Mode = mode
        self.v1 = v1
        self.unified = unified

    def __repr__(self) -> str:
        return f"Hierarchy({self.mode!r}, v1={self.v1!r}, unified={self.unified!r})"


def parse_mountinfo(text: str) -> Hierarchy:
    """Find the cgroup mounts in `/proc/<pid>/mountinfo` text.

    The first mount of a controller wins (runc does the same), so a later bind mount
    of the same hierarchy is not mistaken for it. Lines that are not cgroup mounts,
    or are too short to parse, are skipped. Raises `CgroupError` when no cgroup
    filesystem is mounted at all.
    """
    v1: dict[str, Mount] = {}
    unified: Mount | None = None
    for line in text.splitlines():
        entry = _parse_line(line)
        if entry is None:
            continue
        fstype, mount = entry
        if fstype == "cgroup2":
            if unified is None:
                unified = mount
            continue
        for controller in mount.controllers:
            v1.setdefault(controller, mount)
    has_controllers = any(not name.startswith("name=") for name in v1)
    if has_controllers:
        mode: Mode = "hybrid" if unified is not None else "v1"
    elif unified is not None:
        mode = "v2"
    else:
        raise CgroupError("no cgroup filesystem is mounted (see /proc/self/mountinfo)")
    return Hierarchy(mode, v1, unified)


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """Map each hierarchy in `/proc/<pid>/cgroup` text to the process's cgroup in it.

    `4:memory:/a` gives `{"memory": "/a"}`; `3:cpu,cpuacct:/b` gives both keys;
    `1:name=systemd:/c` keeps the `name=` prefix; the cgroup2 line `0::/d` is key `""`.
    Malformed lines are skipped.
    """
    own: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split(":", 2)  # the path itself may contain ':'
        if len(fields) != 3 or not fields[2].startswith("/"):
            continue
        _, controllers, path = fields
        for controller in controllers.split(","):
            own[controller] = path
    return own


def read_hierarchy(path: str = MOUNTINFO) -> Hierarchy:
    """`parse_mountinfo` on this process's mountinfo. Raises `CgroupError`."""
    return parse_mountinfo(_read_text(path))


def read_own_cgroups(path: str = PROC_CGROUP) -> dict[str, str]:
    """`parse_proc_cgroup` on this process's cgroup file. Raises `CgroupError`."""
    return parse_proc_cgroup(_read_text(path))


def _parse_line(line: str) -> tuple[str, Mount] | None:
    # id parent major:minor root mountpoint options [optional...] - fstype source super
    fields = line.split()
    try:
        sep = fields.index("-", 6)
        fstype, super_options = fields[sep + 1], fields[sep + 3]
    except (ValueError, IndexError):
        return None
    if fstype not in ("cgroup", "cgroup2"):
        return None
    root, mountpoint = _unescape(fields[3]), _unescape(fields[4])
    if fstype == "cgroup2":
        return fstype, Mount(mountpoint, root)
    controllers = tuple(
        opt
        for opt in super_options.split(",")
        if opt.startswith("name=") or ("=" not in opt and opt not in _V1_FLAGS)
    )
    return fstype, Mount(mountpoint, root, controllers)


def _unescape(field: str) -> str:
    # The kernel writes space, tab, newline and backslash as \ooo octal escapes.
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError as err:
        raise CgroupError(f"read {path}: {err.strerror}") from err
