"""containerd drives busybox containers through our shim: ctr run, exec, pause/resume,
kill, ps, metrics, delete, events. A private containerd per module (harness.py)."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ._events import CtrEvents
from .harness import BUSYBOX_IMAGE, TIMEOUT, Containerd

pytestmark = [pytest.mark.containerd, pytest.mark.privileged]
RUNTIME = "io.containerd.pyshim.v1"
ENV = dict(os.environ, CONTAINERD_SNAPSHOTTER="native")


def ctr(ctd: Containerd, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["ctr", "--address", ctd.address, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=ENV,
        check=False,
    )
    if check:
        assert proc.returncode == 0, proc
    return proc


def test_ctr_run_rm_prints_the_output_and_returns_the_exit_code(containerd: Containerd) -> None:
    proc = ctr(
        containerd, "run", "--rm", "--runtime", RUNTIME, BUSYBOX_IMAGE, "ctr-rm",
        "sh", "-c", "echo hello from the container; exit 7", check=False,
    )  # fmt: skip
    assert proc.stdout == "hello from the container\n", proc
    assert proc.returncode == 7, proc
    assert ctr(containerd, "tasks", "ls", "-q").stdout.split() == []
    assert ctr(containerd, "containers", "ls", "-q").stdout.split() == []


def _wait_for(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _status(ctd: Containerd, cid: str) -> str:
    for line in ctr(ctd, "tasks", "ls").stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == cid:
            return fields[-1]
    return ""


def _rm(ctd: Containerd, cid: str) -> None:
    ctr(ctd, "tasks", "kill", "-a", "-s", "KILL", cid, check=False)
    ctr(ctd, "tasks", "delete", "-f", cid, check=False)
    ctr(ctd, "containers", "delete", cid, check=False)


@pytest.fixture
def running(containerd: Containerd) -> Iterator[str]:
    """A detached busybox task (`ctr run -d`) that runs until killed."""
    cid = f"run-d-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    ctr(containerd, "run", "-d", "--runtime", RUNTIME, BUSYBOX_IMAGE, cid, "sleep", "1000")
    try:
        yield cid
    finally:
        _rm(containerd, cid)


def test_run_d_exec_pause_resume_ps_metrics_kill_delete(
    containerd: Containerd, running: str
) -> None:
    cid = running
    assert _status(containerd, cid) == "RUNNING"
    # exec without a terminal: output and exit code come back
    proc = ctr(
        containerd,
        "tasks",
        "exec",
        "--exec-id",
        "e1",
        cid,
        "sh",
        "-c",
        "echo in; exit 3",
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (3, "in\n"), proc
    # ps lists the init and nothing else once the exec is gone
    pids = [line.split()[0] for line in ctr(containerd, "tasks", "ps", cid).stdout.splitlines()[1:]]
    assert len(pids) == 1
    # pause and resume
    ctr(containerd, "tasks", "pause", cid)
    assert _status(containerd, cid) == "PAUSED"
    ctr(containerd, "tasks", "resume", cid)
    assert _status(containerd, cid) == "RUNNING"
    # metrics: the cgroup's numbers, in containerd's Metrics type
    metrics = ctr(containerd, "tasks", "metrics", "--format", "json", cid).stdout
    assert '"memory"' in metrics or '"Memory"' in metrics, metrics
    # kill, then the exit is seen and the task deleted
    ctr(containerd, "tasks", "kill", "-s", "KILL", cid)
    _wait_for(lambda: _status(containerd, cid) == "STOPPED", "the task to stop")
    ctr(containerd, "tasks", "delete", cid)
    assert cid not in ctr(containerd, "tasks", "ls", "-q").stdout.split()


def ctr_on_a_tty(ctd: Containerd, *args: str) -> tuple[int, bytes]:
    """ctr with a pty as its stdio (its `-t` needs a console); exit code and what it wrote."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        ["ctr", "--address", ctd.address, *args],
        stdin=slave, stdout=slave, stderr=slave, env=ENV, start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    out = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], TIMEOUT)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every slave fd closed
                break
            if not chunk:
                break
            out += chunk
        code = proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)
        os.close(master)
    return code, out


def test_exec_with_a_terminal(containerd: Containerd, running: str) -> None:
    code, out = ctr_on_a_tty(
        containerd, "tasks", "exec", "-t", "--exec-id", "tty", running, "sh", "-c", "tty; exit 4"
    )
    assert code == 4, out
    assert b"/dev/pts/" in out, out


def test_events_come_in_containerds_order(containerd: Containerd) -> None:
    events = CtrEvents(containerd, ENV)
    cid = f"ev-{os.getpid()}"
    try:
        events.subscribed()
        ctr(containerd, "run", "-d", "--runtime", RUNTIME, BUSYBOX_IMAGE, cid, "sleep", "1000")
        ctr(containerd, "tasks", "exec", "--exec-id", "e1", cid, "true")
        ctr(containerd, "tasks", "pause", cid)
        ctr(containerd, "tasks", "resume", cid)
        ctr(containerd, "tasks", "kill", "-s", "KILL", cid)
        _wait_for(lambda: _status(containerd, cid) == "STOPPED", "the task to stop")
        ctr(containerd, "tasks", "delete", cid)
        ctr(containerd, "containers", "delete", cid)
        events.wait_for(lambda line: "/containers/delete" in line and cid in line, "the delete")
    finally:
        events.close()
        _rm(containerd, cid)
    out = "".join(events.lines)
    topics = [
        next(word for word in line.split() if word.startswith("/tasks/"))
        for line in out.splitlines()
        if cid in line and " /tasks/" in line
    ]
    assert topics == [
        "/tasks/create",
        "/tasks/start",
        "/tasks/exec-added",
        "/tasks/exec-started",
        "/tasks/exit",
        "/tasks/paused",
        "/tasks/resumed",
        "/tasks/exit",
        "/tasks/delete",
    ], out


def _daemons(ctd: Containerd) -> list[int]:
    """Our long-running shim daemons (not `start`/`delete` invocations)."""
    out = []
    for pid in ctd.shim_pids():
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"pyshim" in argv[1] and not {b"start", b"delete"} & set(argv[2:]):
            out.append(pid)
    return out


def test_twenty_containers_at_once(containerd: Containerd) -> None:
    ids = [f"many-{i}" for i in range(20)]
    try:
        procs = [
            subprocess.Popen(
                [
                    "ctr",
                    "--address",
                    containerd.address,
                    "run",
                    "--rm",
                    "--runtime",
                    RUNTIME,
                    BUSYBOX_IMAGE,
                    cid,
                    "sh",
                    "-c",
                    f"echo {cid}; exit {i}",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=ENV,
            )
            for i, cid in enumerate(ids)
        ]
        results = [p.communicate(timeout=TIMEOUT * 2) for p in procs]
        for i, (proc, (out, err)) in enumerate(zip(procs, results, strict=True)):
            assert (proc.returncode, out) == (i, f"many-{i}\n"), err
    finally:
        for cid in ids:
            _rm(containerd, cid)
    assert ctr(containerd, "tasks", "ls", "-q").stdout.split() == []
    _wait_for(lambda: not _daemons(containerd), "every shim to exit")


def test_two_containers_of_one_sandbox_share_one_shim(containerd: Containerd) -> None:
    note = "io.kubernetes.cri.sandbox-id=pod-share"
    ids = ["share-a", "share-b"]
    try:
        for cid in ids:
            ctr(containerd, "run", "-d", "--runtime", RUNTIME, "--label", "x=y",
                "--annotation", note, BUSYBOX_IMAGE, cid, "sleep", "1000")  # fmt: skip
        assert len(_daemons(containerd)) == 1
        ctr(containerd, "tasks", "kill", "-s", "KILL", ids[0])
        _wait_for(lambda: _status(containerd, ids[0]) == "STOPPED", "the first to stop")
        ctr(containerd, "tasks", "delete", ids[0])
        assert _status(containerd, ids[1]) == "RUNNING"  # the shared shim serves on
        assert len(_daemons(containerd)) == 1
    finally:
        for cid in ids:
            _rm(containerd, cid)
    _wait_for(lambda: not _daemons(containerd), "the shim to exit with its last container")


def test_kill_9_of_the_shim_then_task_delete_cleans_up(containerd: Containerd) -> None:
    cid = "killed-shim"
    ctr(containerd, "run", "-d", "--runtime", RUNTIME, BUSYBOX_IMAGE, cid, "sleep", "1000")
    try:
        (daemon,) = _daemons(containerd)
        init = int(ctr(containerd, "tasks", "ls").stdout.splitlines()[1].split()[1])
        os.kill(daemon, signal.SIGKILL)
        _wait_for(lambda: not _pid_alive(init), "the container to be killed by our delete")
        ctr(containerd, "tasks", "delete", cid, check=False)
        _wait_for(lambda: cid not in ctr(containerd, "tasks", "ls", "-q").stdout.split(), "removal")
    finally:
        _rm(containerd, cid)
    assert not [m for m in _mounts() if cid in m]
    assert not list(Path("/run/containerd/pyshim/default").glob(cid))


def test_a_restarted_containerd_finds_the_running_task(containerd: Containerd) -> None:
    cid = "survivor"
    ctr(containerd, "run", "-d", "--runtime", RUNTIME, BUSYBOX_IMAGE, cid, "sleep", "1000")
    try:
        (daemon,) = _daemons(containerd)
        containerd.restart()
        assert _daemons(containerd) == [daemon]  # the shim outlived containerd
        assert _status(containerd, cid) == "RUNNING"
        proc = ctr(containerd, "tasks", "exec", "--exec-id", "after", cid, "echo", "still here")
        assert proc.stdout == "still here\n"
    finally:
        _rm(containerd, cid)


def test_an_oom_kill_is_published(containerd: Containerd) -> None:
    events = CtrEvents(containerd, ENV)
    cid = "oom"
    try:
        events.subscribed()
        # a 16 MiB limit, and a shell that grows a string until the kernel kills it
        script = "x=a; while :; do x=$x$x; done"
        ctr(containerd, "run", "--rm", "--runtime", RUNTIME, "--memory-limit", str(16 << 20),
            BUSYBOX_IMAGE, cid, "sh", "-c", script, check=False)  # fmt: skip
        events.wait_for(lambda line: "/tasks/oom" in line and cid in line, "the OOM event")
    finally:
        events.close()
        _rm(containerd, cid)


def _pid_alive(pid: int) -> bool:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return raw[raw.rindex(b")") + 2 :].split()[0] not in (b"Z", b"X")


def _mounts() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


LOGGER = """#!/bin/sh
printf '%s\\n' "$@" > "{out}/argv"
env > "{out}/env"
cat <&3 5>&- > "{out}/stdout" &
cat <&4 5>&- > "{out}/stderr" &
exec 5>&-
wait
"""


def test_a_binary_log_uri_gets_the_output(containerd: Containerd, tmp_path: Path) -> None:
    out = tmp_path / "logged"
    out.mkdir()
    logger = tmp_path / "logger.sh"
    logger.write_text(LOGGER.format(out=out))
    logger.chmod(0o755)
    cid = "binlog"
    proc = ctr(containerd, "run", "--rm", "--runtime", RUNTIME, "--log-uri",
               f"binary://{logger}?tag=web", BUSYBOX_IMAGE, cid,
               "sh", "-c", "echo to-out; echo to-err >&2")  # fmt: skip
    assert proc.stdout == ""  # it went to the logger, not to ctr
    _wait_for(lambda: (out / "stderr").read_text() == "to-err\n", "the logger's stderr")
    assert (out / "stdout").read_text() == "to-out\n"
    assert (out / "argv").read_text().split() == ["tag", "web"]
    env = dict(line.split("=", 1) for line in (out / "env").read_text().split())
    assert (env["CONTAINER_ID"], env["CONTAINER_NAMESPACE"]) == (cid, "default")
