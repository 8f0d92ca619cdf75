"""Spawn a command, wait for it, and keep what the kernel accounted: wall time, CPU, peak RSS.

Every runtime and every floor goes through the same `posix_spawn` + `wait4`, so the
cost of starting a process from the bench is the same for all of them.
"""

from __future__ import annotations

import ctypes
import os
import resource
import select
import time
from collections.abc import Sequence
from dataclasses import dataclass

PR_SET_CHILD_SUBREAPER = 36
WAIT_TIMEOUT = 60.0  # seconds: a container that does not exit by then is a failure


class BenchError(Exception):
    """A command the bench ran failed, or a container did not behave; says which and why."""


@dataclass(frozen=True, slots=True)
class Finished:
    wall_ns: int
    cpu_ns: int  # user + system of the process and of the children it waited for
    maxrss_kb: int  # the peak RSS of the largest of those processes (wait4 folds them in)


def spawn(argv: Sequence[str], *, stdout: int, stderr: int) -> int:
    """Start argv[0] (an absolute path) with stdin on /dev/null; its pid."""
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        actions = [
            (os.POSIX_SPAWN_DUP2, devnull, 0),
            (os.POSIX_SPAWN_DUP2, stdout, 1),
            (os.POSIX_SPAWN_DUP2, stderr, 2),
        ]
        return os.posix_spawn(argv[0], list(argv), os.environ, file_actions=actions)
    finally:
        os.close(devnull)


def settle(pid: int) -> None:
    """After an interrupt (Ctrl-C, SIGTERM): let a command finish before cleanup runs, so
    whatever it makes is there to delete rather than appearing after the cleanup."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def reap(pid: int, argv: Sequence[str], err_fd: int) -> resource.struct_rusage:
    """wait4 for pid; raise BenchError carrying its stderr when it did not exit 0."""
    try:
        _, status, usage = os.wait4(pid, 0)
    except BaseException:
        settle(pid)
        raise
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise BenchError(f"{' '.join(argv)}: exit status {code}: {read_all(err_fd).strip()}")
    return usage


def run(argv: Sequence[str], *, stdout: int | None = None) -> Finished:
    """Run argv to its end (stdout to /dev/null unless given); raise BenchError if it fails."""
    err = os.memfd_create("bench-stderr", os.MFD_CLOEXEC)
    out = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC) if stdout is None else stdout
    try:
        t0 = time.perf_counter_ns()
        pid = spawn(argv, stdout=out, stderr=err)
        usage = reap(pid, argv, err)
        wall = time.perf_counter_ns() - t0
    finally:
        os.close(err)
        if stdout is None:
            os.close(out)
    cpu = round((usage.ru_utime + usage.ru_stime) * 1e9)
    return Finished(wall, cpu, usage.ru_maxrss)


def run_output(argv: Sequence[str]) -> tuple[Finished, str]:
    """Run argv like `run`; also return its stdout."""
    out = os.memfd_create("bench-stdout", os.MFD_CLOEXEC)
    try:
        done = run(argv, stdout=out)
        return done, read_all(out)
    finally:
        os.close(out)


def read_all(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def wait_exit(pid: int, timeout: float = WAIT_TIMEOUT) -> None:
    """Wait until pid exits, then reap it if it is ours (the bench is a subreaper)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # gone and already reaped
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(timeout * 1000):
            raise BenchError(f"process {pid} still running after {timeout:.0f} s")
        try:
            os.waitid(os.P_PIDFD, fd, os.WEXITED)
        except ChildProcessError:
            pass  # not our child: its parent reaps it
    finally:
        os.close(fd)


def become_subreaper() -> None:
    """Orphaned container inits are re-parented to us, so we reap them and their CPU counts."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def reap_orphans() -> None:
    """Collect any zombie left to us (call only when no other wait is in flight)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def vm_rss_kb(pid: int | str) -> int:
    """VmRSS of /proc/<pid>/status in KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for process {pid}")


def fd_count(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_children_ns() -> int:
    """CPU (user + system) of every child reaped so far, with their reaped descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round((usage.ru_utime + usage.ru_stime) * 1e9)
