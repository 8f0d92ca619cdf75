"""OCI mount options -> mount(2) flags, propagation, recursive attributes, data (runc's table)."""

from __future__ import annotations

from shim.errors import Unsupported

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_SILENT = 32768
MS_POSIXACL = 1 << 16
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

# name -> (clear?, flag)
FLAGS: dict[str, tuple[bool, int]] = {
    "acl": (False, MS_POSIXACL),
    "async": (True, MS_SYNCHRONOUS),
    "atime": (True, MS_NOATIME),
    "bind": (False, MS_BIND),
    "defaults": (False, 0),
    "dev": (True, MS_NODEV),
    "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC),
    "exec": (True, MS_NOEXEC),
    "iversion": (False, MS_I_VERSION),
    "lazytime": (False, MS_LAZYTIME),
    "loud": (True, MS_SILENT),
    "mand": (False, MS_MANDLOCK),
    "noacl": (True, MS_POSIXACL),
    "noatime": (False, MS_NOATIME),
    "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME),
    "noexec": (False, MS_NOEXEC),
    "noiversion": (True, MS_I_VERSION),
    "nolazytime": (True, MS_LAZYTIME),
    "nomand": (True, MS_MANDLOCK),
    "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "nosuid": (False, MS_NOSUID),
    "nosymfollow": (False, MS_NOSYMFOLLOW),
    "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME),
    "remount": (False, MS_REMOUNT),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "silent": (False, MS_SILENT),
    "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID),
    "symfollow": (True, MS_NOSYMFOLLOW),
    "sync": (False, MS_SYNCHRONOUS),
}

PROPAGATION: dict[str, int] = {
    "private": MS_PRIVATE,
    "shared": MS_SHARED,
    "slave": MS_SLAVE,
    "unbindable": MS_UNBINDABLE,
    "rprivate": MS_PRIVATE | MS_REC,
    "rshared": MS_SHARED | MS_REC,
    "rslave": MS_SLAVE | MS_REC,
    "runbindable": MS_UNBINDABLE | MS_REC,
}

# Recursive attributes (mount_setattr with AT_RECURSIVE): name -> (clear, set)
RECURSIVE: dict[str, tuple[int, int]] = {
    "rro": (0, MOUNT_ATTR_RDONLY),
    "rrw": (MOUNT_ATTR_RDONLY, 0),
    "rnosuid": (0, MOUNT_ATTR_NOSUID),
    "rsuid": (MOUNT_ATTR_NOSUID, 0),
    "rnodev": (0, MOUNT_ATTR_NODEV),
    "rdev": (MOUNT_ATTR_NODEV, 0),
    "rnoexec": (0, MOUNT_ATTR_NOEXEC),
    "rexec": (MOUNT_ATTR_NOEXEC, 0),
    "rnodiratime": (0, MOUNT_ATTR_NODIRATIME),
    "rdiratime": (MOUNT_ATTR_NODIRATIME, 0),
    "rrelatime": (MOUNT_ATTR__ATIME, MOUNT_ATTR_RELATIME),
    "rnorelatime": (MOUNT_ATTR__ATIME, MOUNT_ATTR_NOATIME),
    "rnoatime": (MOUNT_ATTR__ATIME, MOUNT_ATTR_NOATIME),
    "ratime": (MOUNT_ATTR__ATIME, MOUNT_ATTR_RELATIME),
    "rstrictatime": (MOUNT_ATTR__ATIME, MOUNT_ATTR_STRICTATIME),
    "rnostrictatime": (MOUNT_ATTR__ATIME, MOUNT_ATTR_RELATIME),
    "rnosymfollow": (0, MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (MOUNT_ATTR_NOSYMFOLLOW, 0),
}

# Options runc knows that this runtime refuses rather than ignore.
REFUSED = {
    "idmap": "id-mapped mounts are not supported",
    "ridmap": "id-mapped mounts are not supported",
}


class MountOptions:
    __slots__ = ("attr_clr", "attr_set", "copyup", "data", "flags", "propagation")

    def __init__(self) -> None:
        self.copyup = False  # tmpcopyup: runc's extension, for tmpfs only (ignored elsewhere)
        self.flags = 0
        self.propagation = 0
        self.attr_set = 0
        self.attr_clr = 0
        self.data: list[str] = []


def parse_options(options: list[str], where: str) -> MountOptions:
    """Split options as runc does; unknown names become filesystem data (e.g. mode=755)."""
    out = MountOptions()
    for opt in options:
        if opt in FLAGS:
            clear, flag = FLAGS[opt]
            out.flags = out.flags & ~flag if clear else out.flags | flag
        elif opt in PROPAGATION:
            out.propagation |= PROPAGATION[opt]
        elif opt in RECURSIVE:
            clr, set_ = RECURSIVE[opt]
            out.attr_clr |= clr
            out.attr_set = (out.attr_set & ~clr) | set_
        elif opt == "tmpcopyup":
            out.copyup = True
        elif opt in REFUSED:
            raise Unsupported(f"{where}: {REFUSED[opt]}")
        else:
            out.data.append(opt)
    return out
