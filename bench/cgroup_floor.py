"""The cgroup part of the floor: make a cgroup in every hierarchy, move a process in, remove it.

Every runtime pays this in `create`, and it is mostly the kernel's: the first write
to a cgroup.procs after a quiet spell waits for an RCU grace period (the write side
of cgroup_threadgroup_rwsem, a percpu rwsem), about 10 ms here, whoever writes it.
Writes closer together than a grace period share one wait, so each round starts
after a quiet spell, as a lone `create` sees it.
"""

from __future__ import annotations

import errno
import os
import signal
import time

from bench import proc
from bench.bundles import BUSYBOX

RMDIR_TIMEOUT = 2.0  # seconds: a killed process leaves its cgroup a moment after the reap
QUIET = 0.05  # seconds without a cgroup write before each round: past one grace period


def own_cgroup_dirs() -> list[tuple[str, bool]]:
    """Our own cgroup's directory in each mounted hierarchy, and whether it is the cpuset one."""
    own: dict[str, str] = {}
    with open("/proc/self/cgroup", encoding="utf-8") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for ctrl in ctrls.split(",") if ctrls else [""]:
                own[ctrl] = path
    dirs: list[tuple[str, bool]] = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            kind, opts = fields[sep + 1], fields[sep + 3].split(",")
            if kind not in ("cgroup", "cgroup2"):
                continue
            key = "" if kind == "cgroup2" else next((o for o in opts if o in own), None)
            if key is None or key not in own:
                continue
            path, root = own[key], fields[3]
            if root != "/" and path.startswith(root):
                path = path[len(root) :]
            dirs.append((fields[4] + path.rstrip("/"), "cpuset" in opts))
    return list(dict.fromkeys(dirs))


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _rmdir(path: str) -> None:
    deadline = time.monotonic() + RMDIR_TIMEOUT
    while True:
        try:
            os.rmdir(path)
            return
        except OSError as err:
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
        time.sleep(0.001)


def cgroup_round(dirs: list[tuple[str, bool]], name: str) -> float:
    """ms to mkdir `name` in every hierarchy and move a process in, plus the rmdirs after it
    exits (its kill and reap are not counted)."""
    devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    try:
        pid = proc.spawn([BUSYBOX, "sleep", "60"], stdout=devnull, stderr=devnull)
    finally:
        os.close(devnull)
    made: list[str] = []
    time.sleep(QUIET)
    try:
        t0 = time.perf_counter_ns()
        for parent, cpuset in dirs:
            child = os.path.join(parent, name)
            os.mkdir(child)
            made.append(child)
            if cpuset:  # an empty v1 cpuset refuses tasks: runtimes copy the parent's
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    with open(os.path.join(parent, knob), encoding="ascii") as f:
                        _write(os.path.join(child, knob), f.read().strip())
            _write(os.path.join(child, "cgroup.procs"), str(pid))
        placed = time.perf_counter_ns() - t0
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        t1 = time.perf_counter_ns()
        for child in reversed(made):
            _rmdir(child)
    return (placed + time.perf_counter_ns() - t1) / 1e6
