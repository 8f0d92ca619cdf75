"""busybox_bundle: a runnable bundle from the host's busybox, for tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Final

from shim.errors import InvalidConfig
from shim.spec.default import config_dict, encode_config

BUSYBOX: Final = "/bin/busybox"  # Debian's busybox-static: no libraries to copy
_ROOTFS_DIRS: Final = (
    *("bin", "dev", "etc", "home", "lib", "proc", "root", "run", "sbin", "sys", "tmp"),
    *("usr/bin", "usr/sbin", "var/tmp"),
)
_PASSWD: Final = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
_GROUP: Final = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:daemon
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
"""


def busybox_bundle(bundle_dir: str, args: list[str] | None = None, rootless: bool = False) -> None:
    """Make `bundle_dir/rootfs` from the host's busybox and write `bundle_dir/config.json`.

    The config is runc's default with `terminal` false and `args` (default ["sh"]).
    Raises InvalidConfig if /bin/busybox is missing, FileExistsError if rootfs exists.
    """
    if not os.access(BUSYBOX, os.X_OK):
        raise InvalidConfig(f"{BUSYBOX} not found: install Debian's busybox-static")
    os.makedirs(bundle_dir, exist_ok=True)
    _make_rootfs(os.path.join(bundle_dir, "rootfs"))
    config = config_dict(rootless, terminal=False, args=["sh"] if args is None else args)
    _write(os.path.join(bundle_dir, "config.json"), encode_config(config))


def _make_rootfs(rootfs: str) -> None:
    """The layout of tools/mkrootfs.sh: busybox plus one symlink per applet in /bin."""
    os.mkdir(rootfs)
    for name in _ROOTFS_DIRS:
        os.makedirs(os.path.join(rootfs, name))
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    os.chmod(os.path.join(rootfs, "var/tmp"), 0o1777)
    os.chmod(os.path.join(rootfs, "root"), 0o700)
    # A copy, not a hard link: a container with a writable rootfs must not reach the host's.
    shutil.copy2(BUSYBOX, os.path.join(rootfs, "bin/busybox"))
    for applet in _applets():
        os.symlink("busybox", os.path.join(rootfs, "bin", applet))
    _write(os.path.join(rootfs, "etc/passwd"), _PASSWD.encode())
    _write(os.path.join(rootfs, "etc/group"), _GROUP.encode())


def _applets() -> list[str]:
    listed = subprocess.run(
        [BUSYBOX, "--list"], capture_output=True, text=True, check=True, timeout=10
    )
    return [name for name in listed.stdout.split() if name != "busybox"]


def _write(path: str, data: bytes) -> None:
    with open(path, "xb") as file:
        file.write(data)
