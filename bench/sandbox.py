"""The one place every runtime runs: a private mount namespace with cgroup v1 only.

crun 1.8 refuses this host's hybrid cgroups, so the bench re-executes itself under
`unshare --mount` and unmounts /sys/fs/cgroup/unified there, for every runtime alike
(the host's mounts are untouched), with the host-integrity guard of tests/host_guard.py
watching the host from outside. It also becomes a child subreaper, so container
inits orphaned by `create` come back to it to be reaped and accounted.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
from typing import NoReturn

from bench import proc

ENV = "SHIM_BENCH_SANDBOX"  # set in the re-executed bench
UNIFIED = "/sys/fs/cgroup/unified"


def inside() -> bool:
    return os.environ.get(ENV) == "1"


def reexec() -> NoReturn:
    """Run this bench again in the sandbox, under the host-integrity guard
    (tests/host_guard.py), which checks the host from out here: exit 99 and a banner if
    the host's "/" mounts, /dev/null, /dev/full or canary files changed."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise proc.BenchError("unshare: not found (util-linux)")
    sandboxed = [unshare, "--mount", "--propagation", "private", "--", sys.executable]
    guard = [sys.executable, "-m", "tests.host_guard", "--"]
    argv = [*guard, *sandboxed, *sys.orig_argv[1:]]
    os.execve(sys.executable, argv, {**os.environ, ENV: "1"})


def _mounted(path: str) -> bool:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return any(line.split()[4] == path for line in f)


def enter() -> list[str]:
    """Make this namespace cgroup-v1-only and become a subreaper; notes for the report."""
    notes = []
    if _mounted(UNIFIED):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.umount2(UNIFIED.encode(), 0) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"umount {UNIFIED}: {os.strerror(err)}")
        notes.append(
            f"every runtime ran in a private mount namespace without {UNIFIED}"
            " (crun 1.8 refuses hybrid cgroups)"
        )
    proc.become_subreaper()
    return notes
