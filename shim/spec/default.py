"""What `spec` writes: runc's default config.json, byte for byte.

Kept free of the Records: `shim spec` should start fast. The dicts keep runc's key order.
"""

from __future__ import annotations

import json
import os
from typing import Final, TypeAlias

from shim import OCI_VERSION

JSONValue: TypeAlias = str | int | bool | list["JSONValue"] | dict[str, "JSONValue"]

_DEFAULT_CAPS: Final = ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")
_MASKED: Final = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
)
_PTS_OPTIONS: Final = ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620")
_READONLY: Final = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def default_config(rootless: bool) -> bytes:
    """The config.json `runc spec [--rootless]` writes: tab-indented, no final newline."""
    return encode_config(config_dict(rootless, terminal=True, args=["sh"]))


def encode_config(config: dict[str, JSONValue]) -> bytes:
    """`config` as `runc spec` would write it."""
    # Go's json.MarshalIndent(config, "", "\t"): no final newline, UTF-8 left as is.
    return json.dumps(config, indent="\t", ensure_ascii=False).encode()


def config_dict(rootless: bool, terminal: bool, args: list[str]) -> dict[str, JSONValue]:
    """runc's default config as dicts in its key order, with this terminal and args."""
    return {
        "ociVersion": OCI_VERSION,
        "process": _process(terminal, args),
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "runc",
        "mounts": _mounts(rootless),
        "linux": _linux(rootless),
    }


def _process(terminal: bool, args: list[str]) -> dict[str, JSONValue]:
    caps: list[JSONValue] = list(_DEFAULT_CAPS)
    return {
        "terminal": terminal,
        "user": {"uid": 0, "gid": 0},
        "args": [*args],
        "env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
        ],
        "cwd": "/",
        "capabilities": {
            "bounding": caps,
            "effective": caps,
            "permitted": caps,
            "ambient": caps,
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    }


def _mount(destination: str, kind: str, source: str, *options: str) -> dict[str, JSONValue]:
    mount: dict[str, JSONValue] = {"destination": destination, "type": kind, "source": source}
    if options:
        mount["options"] = list(options)
    return mount


def _mounts(rootless: bool) -> list[JSONValue]:
    # Rootless: no uid=/gid= options (the ids may be unmapped), and sysfs cannot be
    # mounted without a network namespace of our own, so bind the host's.
    pts_gid = () if rootless else ("gid=5",)
    sys = (
        _mount("/sys", "none", "/sys", "rbind", "nosuid", "noexec", "nodev", "ro")
        if rootless
        else _mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro")
    )
    return [
        _mount("/proc", "proc", "proc"),
        _mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
        _mount("/dev/pts", "devpts", "devpts", *_PTS_OPTIONS, *pts_gid),
        _mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
        _mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
        sys,
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", "nosuid", "noexec", "nodev", "relatime", "ro"),
    ]


def _linux(rootless: bool) -> dict[str, JSONValue]:
    linux: dict[str, JSONValue] = {}
    if rootless:
        linux["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
        linux["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
        kinds = ["pid", "ipc", "uts", "mount", "user"]
    else:
        linux["resources"] = {"devices": [{"allow": False, "access": "rwm"}]}
        kinds = ["pid", "network", "ipc", "uts", "mount"]
    if cgroup2_unified():  # runc spec's rule on a cgroup-v2-only host, before --rootless
        kinds.insert(len(kinds) - int(rootless), "cgroup")
    linux["namespaces"] = [{"type": kind} for kind in kinds]
    linux["maskedPaths"] = list(_MASKED)
    linux["readonlyPaths"] = list(_READONLY)
    return linux


def cgroup2_unified() -> bool:
    """Whether /sys/fs/cgroup is the cgroup2 hierarchy itself (runc: statfs magic), read
    from the topmost mount there."""
    fstype = ""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                if fields[4] == "/sys/fs/cgroup":
                    fstype = fields[fields.index("-") + 1]
    except OSError:
        return False
    return fstype == "cgroup2"
