"""Start the kernel's cgroup-migration grace period early, so it overlaps our own work.

Moving a process into a cgroup (a write to `cgroup.procs`) takes the kernel's global
`cgroup_threadgroup_rwsem` for writing. Once that lock has been idle for a while, the
first writer waits for a whole RCU grace period (7-15 ms on this 2-core VM; see
bench/cgroup_floor.py); writers in the next few tens of milliseconds pass at once.
Every create and exec pays that wait when it places its helper, runc too. We start it
on a thread at the very beginning of the command (before imports, the spec, the plan):
the process moves itself into the cgroup it is already in, which changes nothing but
takes the lock. By the time the helper is placed, the wait is over.

Only our own process is moved, into its own cgroup: no other cgroup is written, no
membership changes; any error (no cgroupfs, a read-only one, a threaded cgroup) just
means no head start.
"""

from __future__ import annotations

import _thread
import os

CGROUP_ROOT = "/sys/fs/cgroup"


def prime_cgroup_migration() -> None:
    """Start the self-move on a daemon thread and return at once."""
    try:
        _thread.start_new_thread(_move_self, ())
    except RuntimeError:  # no thread to spare: no head start
        pass


def own_procs_file(proc_cgroup: str, root: str = CGROUP_ROOT) -> str | None:
    """The `cgroup.procs` of the cgroup this process is in, in the first hierarchy
    mounted where we look (`root/<controllers>`, `root/unified`, or `root` itself),
    from /proc/self/cgroup's text."""
    for line in proc_cgroup.splitlines():
        hid, controllers, path = [*line.split(":", 2), "", ""][:3]
        if not path.startswith("/"):
            continue
        if hid == "0" and not controllers:
            candidates = [f"{root}/unified{path}", f"{root}{path}"]
        else:
            names = [c.removeprefix("name=") for c in controllers.split(",") if c]
            candidates = [f"{root}/{n}{path}" for n in (",".join(names), *names)]
        for directory in candidates:
            procs = os.path.join(directory, "cgroup.procs")
            if os.path.exists(procs):
                return procs
    return None


def _move_self() -> bool:
    """Whether the kernel took the move (the thread's result is not looked at)."""
    try:
        with open("/proc/self/cgroup", "rb") as f:
            procs = own_procs_file(f.read().decode("utf-8", "replace"))
        if procs is None:
            return False
        fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, b"0")  # 0: the writing process itself
        finally:
            os.close(fd)
    except OSError:
        return False
    return True
