"""What `features` prints: runc 1.1's document shape, stating what shim implements.

The OCI features document lists what the runtime recognizes, decided when it is built,
not what this host offers. Kept free of the Records: `shim features` should start fast.
"""

from __future__ import annotations

import json
from typing import Final

from shim import OCI_VERSION, __version__
from shim.spec.caps import CAP_NAMES

HOOKS: Final = (
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
)
# The 62 options runc 1.1 recognizes (sorted); any other option is passed to mount(2) as data.
MOUNT_OPTIONS: Final = (
    "acl",
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noacl",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
)
# Time namespaces (runtime-spec 1.2) are made too.
FEATURE_NAMESPACES: Final = ("cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts")


def _seccomp() -> dict[str, object]:
    from shim.seccomp.names import SUPPORTED_ACTIONS, SUPPORTED_ARCHES, SUPPORTED_OPERATORS

    return {
        "enabled": True,
        "actions": sorted(SUPPORTED_ACTIONS),
        "operators": sorted(SUPPORTED_OPERATORS),
        "archs": sorted(SUPPORTED_ARCHES),
    }


def _annotations() -> dict[str, str]:
    from shim.seccomp.compile import libseccomp_version

    notes = {"org.opencontainers.runc.version": __version__}
    version = libseccomp_version()
    if version:  # runc's key, so tools that look for it find it
        notes = {"io.github.seccomp.libseccomp.version": version, **notes}
    return notes


def features_json() -> bytes:
    """The `features` output: 4-space indent and a final newline, as runc prints it."""
    document = {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOKS),
        "mountOptions": list(MOUNT_OPTIONS),
        "linux": {
            "namespaces": list(FEATURE_NAMESPACES),
            "capabilities": list(CAP_NAMES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": _seccomp(),
            "apparmor": {"enabled": True},
            "selinux": {"enabled": True},
        },
        "annotations": _annotations(),
    }
    return (json.dumps(document, indent=4) + "\n").encode()
