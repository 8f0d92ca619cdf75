"""`exec`: a new process in a created or running container, checked against runc 1.1.5.

The exec'd process must live where the container's init lives (every namespace, the
cgroup), get the process settings of config.json with the exec flags on top, and the
runtime must exit with its status (128+N if a signal killed it). Runtime-side failures
exit 255 with `exec failed: ...` and leave nothing behind: no extra process in the
container, no fd in its init. The exec'd process's stdio is the runtime's own, so the
tests hand files (or a pipe they drain) as stdout/stderr.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import select
import signal
import struct
import subprocess
import tempfile
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from tests.conftest import (
    TIMEOUT,
    BundleFactory,
    Shim,
    needs_busybox,
    needs_root,
)
from tests.integration._console import ConsoleListener, read_until
from tests.integration._runc_compare import (
    assert_fails,
    cmdline,
    error_messages,
    needs_runc,
    pid_of,
    process_gone,
    status,
    wait_status,
    wait_until,
)

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(60)]

SLEEP = ["sleep", "1000"]
EXEC_FAILED = 255
CAP_NET_RAW = 13
CAP_SYS_ADMIN = 21
GIB = 1 << 30
# Reports each signal it catches on stdout; `ready` once the traps are in place.
TRAPPER = [
    "sh",
    "-c",
    "trap 'echo got-usr1' USR1; trap 'echo got-term; exit 42' TERM; echo ready; "
    "while true; do sleep 0.05; done",
]


# --------------------------------------------------------------------------- helpers


def no_cgroupns(c: dict[str, Any]) -> None:
    c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "cgroup"]


def running(
    rt: Shim,
    make_bundle: BundleFactory,
    cid: str,
    args: list[str] | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """`run -d` a container (`sleep 1000` unless told) in its own bundle; its init's pid."""
    bundle = make_bundle(args or SLEEP, edit=edit, name=f"bundle-{cid}")
    rt.ok("run", "-d", "--bundle", str(bundle), cid)
    return pid_of(rt, cid)


class Raw(NamedTuple):
    code: int
    out: bytes
    err: str


def run_raw(
    rt: Shim,
    *args: str,
    input: bytes | None = None,
    pass_fds: tuple[int, ...] = (),
    wrap: list[str] | None = None,
) -> Raw:
    """Like `rt(...)`, but stdout comes back as bytes; `wrap` prefixes the argv (bash tricks)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.run(
            [*(wrap or []), *rt.argv(*args)],
            stdout=out,
            stderr=err,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            timeout=TIMEOUT,
            check=False,
            pass_fds=pass_fds,
        )
        out.seek(0)
        err.seek(0)
        return Raw(proc.returncode, out.read(), err.read().decode(errors="replace"))


def popen_exec(rt: Shim, out: Path, *args: str) -> subprocess.Popen[bytes]:
    """A foreground `exec` in the background, stdout and stderr into `out`."""
    with out.open("wb") as f:
        return subprocess.Popen(
            rt.argv("exec", *args), stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT
        )


def finish(proc: subprocess.Popen[bytes], timeout: float = TIMEOUT) -> int:
    """Its exit status; killed (and reaped) if it does not end within `timeout`."""
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)


def wait_pid_file(path: Path) -> int:
    wait_until(f"{path} to be written", lambda: path.exists() and path.read_text() != "")
    return int(path.read_text())


def status_fields(text: str) -> dict[str, str]:
    """`/proc/<pid>/status` as a dict of its `Key:\tvalue` lines."""
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}


def caps_of(text: str) -> dict[str, int]:
    fields = status_fields(text)
    return {k: int(fields[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}


def ns_links(pid: int) -> dict[str, str]:
    kinds = ("mnt", "pid", "net", "ipc", "uts", "cgroup", "user")
    return {k: os.readlink(f"/proc/{pid}/ns/{k}") for k in kinds}


class Inside(NamedTuple):
    """What a failed exec must not change: who is in the container, what its init holds."""

    procs: dict[int, str]  # host pid -> state letter and cmdline
    init_children: str  # the init's children, zombies included (orphans land there)
    init_fds: dict[str, str]  # fd -> link target


def _describe(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    state = stat.rsplit(")", 1)[1].split()[0]
    args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return f"{state} {args.strip()}"


def inside(init: int) -> Inside:
    """Every host process in the init's pid namespace or cgroup, and the init's open fds."""
    pid_ns = os.readlink(f"/proc/{init}/ns/pid")
    cgroup = Path(f"/proc/{init}/cgroup").read_text()
    procs: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            same_ns = os.readlink(f"/proc/{pid}/ns/pid") == pid_ns
            if same_ns or Path(f"/proc/{pid}/cgroup").read_text() == cgroup:
                procs[pid] = _describe(pid)
        except OSError:  # gone while we looked
            continue
    children = Path(f"/proc/{init}/task/{init}/children").read_text()
    fds = {fd: os.readlink(f"/proc/{init}/fd/{fd}") for fd in os.listdir(f"/proc/{init}/fd")}
    return Inside(procs, children, fds)


def assert_unchanged(init: int, before: Inside) -> None:
    """The container holds the same processes and the init the same fds as `before`."""
    deadline = time.monotonic() + 2  # a killed helper may take a moment to be reaped
    now = inside(init)
    while now != before and time.monotonic() < deadline:
        time.sleep(0.02)
        now = inside(init)
    extra = {p: d for p, d in now.procs.items() if p not in before.procs}
    assert now.procs == before.procs, f"processes left in the container: {extra}"
    assert now.init_children == before.init_children, "the init gained (zombie) children"
    assert now.init_fds == before.init_fds, "fds appeared in (or vanished from) the init"


# --------------------------------------------------------------------------- exit status


STATUSES = {"exit 0": 0, "exit 1": 1, "exit 7": 7, "exit 255": 255, "kill -9 $$": 137}


def test_exec_exits_with_the_process_status_or_128_plus_its_signal(
    shim: Shim, make_bundle: BundleFactory, cid: str, subtests: pytest.Subtests
) -> None:
    running(shim, make_bundle, cid)
    for script, code in STATUSES.items():
        with subtests.test(msg=script):
            res = shim("exec", cid, "sh", "-c", script)
            assert res.code == code, res
    assert status(shim, cid) == "running"


def test_exec_exits_137_when_the_host_sigkills_the_process_named_in_the_pid_file(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    running(shim, make_bundle, cid)
    pid_file = tmp_path / "exec.pid"
    proc = popen_exec(shim, tmp_path / "out", "--pid-file", str(pid_file), cid, *SLEEP)
    try:
        # Written in foreground mode too, before the runtime waits (facts sheet 4.2).
        pid = wait_pid_file(pid_file)
        assert cmdline(pid) == SLEEP
        os.kill(pid, signal.SIGKILL)
    finally:
        code = finish(proc)
    assert code == 137, (tmp_path / "out").read_text()
    assert status(shim, cid) == "running"  # only the exec'd process died


def catches(pid: int, sig: signal.Signals) -> bool:
    """`pid` has a handler installed for `sig` (SigCgt in /proc/<pid>/status)."""
    try:
        caught = int(status_fields(Path(f"/proc/{pid}/status").read_text())["SigCgt"], 16)
    except FileNotFoundError:
        return False
    return bool(caught & (1 << (sig - 1)))


def test_exec_forwards_signals_it_receives_to_the_process(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    running(shim, make_bundle, cid)
    out = tmp_path / "out"
    proc = popen_exec(shim, out, cid, *TRAPPER)
    try:
        wait_until("the traps to be installed", lambda: "ready" in out.read_text())
        wait_until("the runtime to catch SIGUSR1", lambda: catches(proc.pid, signal.SIGUSR1))
        proc.send_signal(signal.SIGUSR1)
        wait_until("the process to report got-usr1", lambda: "got-usr1" in out.read_text())
        proc.send_signal(signal.SIGTERM)
    finally:
        code = finish(proc)
    assert code == 42, out.read_text()
    assert out.read_text() == "ready\ngot-usr1\ngot-term\n"
    assert status(shim, cid) == "running"


def read_for(
    fd: int, wanted: bytes, timeout: float, writer: subprocess.Popen[bytes] | None = None
) -> bytes:
    """Read `fd` until `wanted` shows up, EOF, `timeout`, or `writer` is gone; what arrived."""
    seen = bytearray()
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        if time.monotonic() > deadline or (writer is not None and writer.poll() is not None):
            break
        if not select.select([fd], [], [], 0.05)[0]:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        seen += chunk
    return bytes(seen)


def _signal_as_soon_as_ready(rt: Shim, cid: str) -> tuple[int, bytes]:
    """Start TRAPPER with its stdout on a pipe we block on, send SIGUSR1 to the runtime
    the moment `ready` arrives, then SIGTERM; (exit status, output up to got-usr1).
    runc queues signals from before the process starts and forwards them after."""
    proc = subprocess.Popen(
        rt.argv("exec", cid, *TRAPPER),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    try:
        seen = read_for(proc.stdout.fileno(), b"ready\n", 10)
        assert seen == b"ready\n", seen
        proc.send_signal(signal.SIGUSR1)
        seen += read_for(proc.stdout.fileno(), b"got-usr1\n", 5, writer=proc)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    finally:
        code = finish(proc)
        proc.stdout.close()
    return code, seen


def test_exec_forwards_a_signal_that_arrives_right_after_the_process_started(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path, subtests: pytest.Subtests
) -> None:
    running(shim, make_bundle, cid)
    for attempt in range(5):
        with subtests.test(msg=f"attempt {attempt}"):
            # Not -10 (138 in a shell): the runtime must not die of a signal it forwards.
            assert _signal_as_soon_as_ready(shim, cid) == (42, b"ready\ngot-usr1\n")


@needs_runc
def test_runc_forwards_a_signal_that_arrives_right_after_the_process_started(
    runc: Shim, make_bundle: BundleFactory, rid: str, tmp_path: Path
) -> None:
    """The reference for the test above: runc 1.1.5 behaves so every time."""
    running(runc, make_bundle, rid)
    for attempt in range(5):
        assert _signal_as_soon_as_ready(runc, rid) == (42, b"ready\ngot-usr1\n"), attempt


@needs_runc
def test_exec_exit_statuses_match_runc(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    running(shim, make_bundle, cid)
    running(runc, make_bundle, rid)
    for script in [*STATUSES, "kill -15 $$"]:
        ours, theirs = shim("exec", cid, "sh", "-c", script), runc("exec", rid, "sh", "-c", script)
        assert ours.code == theirs.code, (script, ours, theirs)


# --------------------------------------------------------------------------- where it runs


def test_exec_sees_the_containers_pid_namespace_with_the_init_as_pid_1(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    running(shim, make_bundle, cid)
    res = shim.ok("exec", cid, "ps", "-o", "pid,args")
    header, *rows = res.out.splitlines()
    assert header.split() == ["PID", "COMMAND"], res
    table = {int(r.split(None, 1)[0]): r.split(None, 1)[1] for r in rows}
    assert table.get(1) == "sleep 1000", res
    # Only the init and `ps` itself: no helper of the runtime is visible in there.
    assert len(table) == 2, res
    assert [c for p, c in table.items() if p != 1] == ["ps -o pid,args"], res


def test_exec_sees_the_containers_hostname_mounts_and_tmpfs_files(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    marking = ["sh", "-c", "echo from-init > /dev/shm/mark; exec sleep 1000"]
    # No cgroup namespace (spec adds one on a v2-only host): a cgroup mount's root in
    # mountinfo is shown relative to the reader's cgroup namespace, ours here.
    init = running(shim, make_bundle, cid, marking, edit=no_cgroupns)
    wait_until("the init to write its mark", lambda: cmdline(init) == SLEEP)
    res = shim.ok("exec", cid, "sh", "-c", "hostname; cat /dev/shm/mark")
    assert res.out == "runc\nfrom-init\n"
    # mountinfo shows mount points relative to the root of the process it describes:
    # the same mount namespace and root give the same text, mount ids included.
    res = shim.ok("exec", cid, "cat", "/proc/self/mountinfo")
    assert res.out == Path(f"/proc/{init}/mountinfo").read_text()
    root_line = next(line for line in res.out.splitlines() if line.split()[4] == "/")
    assert root_line.split()[3].endswith("/rootfs"), root_line


def test_detached_exec_shares_every_namespace_and_the_cgroup_of_the_init(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    init = running(shim, make_bundle, cid)
    pid_file = tmp_path / "exec.pid"
    shim.ok("exec", "-d", "--pid-file", str(pid_file), cid, *SLEEP)
    pid = int(pid_file.read_text())
    assert pid != init
    assert ns_links(pid) == ns_links(init)
    assert Path(f"/proc/{pid}/cgroup").read_text() == Path(f"/proc/{init}/cgroup").read_text()
    assert Path(f"/proc/{pid}/root").resolve() == Path(f"/proc/{init}/root").resolve()


def test_foreground_exec_runs_in_the_containers_cgroup(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    init = running(shim, make_bundle, cid, edit=no_cgroupns)
    # No cgroup namespace (spec adds one on a v2-only host): inside, /proc/self/cgroup has
    # the host's paths.
    res = shim.ok("exec", cid, "cat", "/proc/self/cgroup")
    assert res.out == Path(f"/proc/{init}/cgroup").read_text()


def test_exec_into_a_created_container_runs_and_leaves_it_created(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    shim.ok("create", "--bundle", str(make_bundle(SLEEP)), cid)
    init = pid_of(shim, cid)
    res = shim("exec", cid, "sh", "-c", "echo in-created; hostname")
    assert (res.code, res.out) == (0, "in-created\nrunc\n"), res
    assert status(shim, cid) == "created"
    shim.ok("start", cid)
    assert cmdline(init) == SLEEP
    assert shim.ok("exec", cid, "cat", "/proc/1/cmdline").out == "sleep\x001000\x00"


# --------------------------------------------------------------------------- process flags


USER_FLAGS = {
    "--user 1000:1000": "1000\n1000\n1000\n",
    "--user 1000": "1000\n5\n5\n",  # keeps the spec's gid (5 here)
    "-u 1000:1000 -g 10 -g 20": "1000\n1000\n1000 10 20\n",
    "-g 10 -g 20": "0\n5\n5 10 20\n",
}


def test_exec_user_and_additional_gid_flags_set_the_process_ids(
    shim: Shim, make_bundle: BundleFactory, cid: str, subtests: pytest.Subtests
) -> None:
    def gid_5(config: dict[str, Any]) -> None:
        config["process"]["user"] = {"uid": 0, "gid": 5}

    running(shim, make_bundle, cid, edit=gid_5)
    for flags, expected in USER_FLAGS.items():
        with subtests.test(msg=flags):
            res = shim("exec", *flags.split(), cid, "sh", "-c", "id -u; id -g; id -G")
            assert (res.code, res.out) == (0, expected), res


def test_exec_cwd_flag_sets_the_working_directory(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    running(shim, make_bundle, cid)
    assert shim.ok("exec", "--cwd", "/tmp", cid, "pwd").out == "/tmp\n"
    assert shim.ok("exec", cid, "pwd").out == "/\n"  # the spec's cwd otherwise


def test_exec_env_flags_append_replace_path_and_a_later_entry_wins(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    running(shim, make_bundle, cid)
    res = shim.ok("exec", "--env", "FOO=bar", "--env", "BAR=1", "--env", "FOO=baz", cid, "env")
    env = res.out.splitlines()
    assert "FOO=baz" in env, env
    assert "BAR=1" in env, env
    assert "FOO=bar" not in env, env
    assert "TERM=xterm" in env, env  # the spec's env is kept
    res = shim.ok("exec", "-e", "FOO=bar", "-e", "PATH=/bin", cid, "env")
    env = res.out.splitlines()
    assert [e for e in env if e.startswith("PATH=")] == ["PATH=/bin"], env
    assert "FOO=bar" in env, env


@needs_runc
def test_exec_environment_matches_runc(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    running(shim, make_bundle, cid)
    running(runc, make_bundle, rid)
    flags = ["-e", "FOO=bar", "-e", "PATH=/bin", "-e", "FOO=baz"]
    ours, theirs = shim("exec", *flags, cid, "env"), runc("exec", *flags, rid, "env")
    assert (ours.code, ours.out) == (theirs.code, theirs.out), (ours, theirs)


def test_exec_cap_flag_adds_the_capability_but_never_to_the_inheritable_set(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    running(shim, make_bundle, cid)
    without = caps_of(shim.ok("exec", cid, "cat", "/proc/self/status").out)
    assert not without["CapEff"] & (1 << CAP_NET_RAW)  # not in the busybox spec
    caps = caps_of(shim.ok("exec", "--cap", "CAP_NET_RAW", cid, "cat", "/proc/self/status").out)
    bit = 1 << CAP_NET_RAW
    for kind in ("CapEff", "CapPrm", "CapBnd"):
        assert caps[kind] & bit, (kind, caps)
        assert caps[kind] == without[kind] | bit, (kind, caps, without)
    assert caps["CapInh"] == 0, caps  # CVE-2022-29162
    assert caps["CapAmb"] & ~caps["CapInh"] == 0, caps


@needs_runc
def test_exec_cap_flag_gives_the_same_capability_sets_as_runc(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    running(shim, make_bundle, cid)
    running(runc, make_bundle, rid)
    argv = ["--cap", "CAP_NET_RAW", "--cap", "CAP_SYS_PTRACE"]
    ours = caps_of(shim.ok("exec", *argv, cid, "cat", "/proc/self/status").out)
    theirs = caps_of(runc.ok("exec", *argv, rid, "cat", "/proc/self/status").out)
    assert ours == theirs


def test_exec_cap_without_the_cap_prefix_only_warns_and_runs(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    running(shim, make_bundle, cid)
    res = shim("exec", "--cap", "SYS_ADMIN", cid, "cat", "/proc/self/status")
    assert res.code == 0, res
    assert "level=warning" in res.err, res
    assert "ignoring unknown or unavailable capabilities: [SYS_ADMIN]" in error_messages(res.err)
    assert not caps_of(res.out)["CapEff"] & (1 << CAP_SYS_ADMIN)


def test_exec_no_new_privs_flag_sets_it_when_the_config_does_not(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    def allow_privs(config: dict[str, Any]) -> None:
        config["process"]["noNewPrivileges"] = False

    running(shim, make_bundle, cid, edit=allow_privs)
    plain = status_fields(shim.ok("exec", cid, "cat", "/proc/self/status").out)
    assert plain["NoNewPrivs"] == "0"
    flagged = shim.ok("exec", "--no-new-privs", cid, "cat", "/proc/self/status").out
    assert status_fields(flagged)["NoNewPrivs"] == "1"


NNP_FLAGS = ["", "--no-new-privs", "--no-new-privs=true", "--no-new-privs=false"]


@needs_runc
@pytest.mark.parametrize("configured", [False, True], ids=["config-false", "config-true"])
def test_exec_no_new_privs_flag_forms_match_runc(
    shim: Shim,
    runc: Shim,
    make_bundle: BundleFactory,
    cid: str,
    rid: str,
    configured: bool,
    subtests: pytest.Subtests,
) -> None:
    def nnp(config: dict[str, Any]) -> None:
        config["process"]["noNewPrivileges"] = configured

    running(shim, make_bundle, cid, edit=nnp)
    running(runc, make_bundle, rid, edit=nnp)
    for flag in NNP_FLAGS:
        with subtests.test(msg=flag or "no flag"):
            argv = [flag] if flag else []
            ours = shim("exec", *argv, cid, "cat", "/proc/self/status")
            theirs = runc("exec", *argv, rid, "cat", "/proc/self/status")
            assert (ours.code, theirs.code) == (0, 0), (ours, theirs)
            mine, runcs = status_fields(ours.out), status_fields(theirs.out)
            assert mine["NoNewPrivs"] == runcs["NoNewPrivs"], (flag, configured)


def test_exec_applies_the_configs_rlimits(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    def limits(config: dict[str, Any]) -> None:
        config["process"]["rlimits"] = [
            {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 2048},
            {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400},
        ]

    running(shim, make_bundle, cid, edit=limits)
    res = shim.ok("exec", cid, "sh", "-c", "ulimit -n; ulimit -Hn; ulimit -u; ulimit -Hu")
    assert res.out == "512\n2048\n300\n400\n"


def test_exec_has_no_tty_by_default_even_if_the_config_asks_for_one(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    def terminal(config: dict[str, Any]) -> None:
        config["process"]["terminal"] = True

    sock = tmp_path / "init-console.sock"
    bundle = make_bundle(SLEEP, edit=terminal)
    with ConsoleListener(sock) as listener:
        shim.ok("run", "-d", "--console-socket", str(sock), "--bundle", str(bundle), cid)
        listener.received()
    res = shim(
        "exec", cid, "sh", "-c", "if test -t 0 || test -t 1; then echo tty; else echo none; fi"
    )
    assert (res.code, res.out) == (0, "none\n"), res


def test_exec_process_has_only_the_stdio_fds(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    running(shim, make_bundle, cid)
    # `; true` keeps sh from exec'ing ls, so we list the shell's fds, not ls's dir fd.
    assert shim.ok("exec", cid, "sh", "-c", "ls /proc/$$/fd; true").out == "0\n1\n2\n"


def test_exec_keeps_stdout_and_stderr_apart(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    running(shim, make_bundle, cid)
    res = shim.ok("exec", cid, "sh", "-c", "echo out; echo err >&2")
    assert (res.out, res.err) == ("out\n", "err\n")


# --------------------------------------------------------------------------- -p process.json


def _process_json(path: Path) -> None:
    process = {
        "terminal": False,
        "args": ["sh", "-c", 'echo "$FOO"; pwd; id -u; id -g; id -G'],
        "env": ["FOO=fromfile", "PATH=/bin"],
        "cwd": "/tmp",
        "user": {"uid": 1000, "gid": 1001, "additionalGids": [33]},
    }
    path.write_text(json.dumps(process))


def test_exec_process_file_sets_everything_and_ignores_flags_and_trailing_args(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    running(shim, make_bundle, cid)
    path = tmp_path / "process.json"
    _process_json(path)
    ignored = ["--cwd", "/etc", "-e", "FOO=flag", "-u", "5", "-g", "7"]
    res = shim("exec", "-p", str(path), *ignored, cid, "echo", "trailing")
    assert (res.code, res.out) == (0, "fromfile\n/tmp\n1000\n1001\n1001 33\n"), res


@needs_runc
def test_exec_process_file_output_matches_runc(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str, tmp_path: Path
) -> None:
    running(shim, make_bundle, cid)
    running(runc, make_bundle, rid)
    path = tmp_path / "process.json"
    _process_json(path)
    script = ["-p", str(path), "-u", "5"]
    ours = shim("exec", *script, cid, "echo", "trailing")
    theirs = runc("exec", *script, rid, "echo", "trailing")
    assert (ours.code, ours.out) == (theirs.code, theirs.out), (ours, theirs)


# --------------------------------------------------------------------------- tty, detach, fds


def test_tty_exec_hands_a_pty_whose_size_follows_a_resize(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    running(shim, make_bundle, cid)
    sock = tmp_path / "console.sock"
    script = "tty; echo before-resize; read x; stty size; echo after-resize"
    with ConsoleListener(sock) as listener:
        res = shim("exec", "-t", "-d", "--console-socket", str(sock), cid, "sh", "-c", script)
        assert res.code == 0, res
        got = listener.received()
        assert got.data == b"/dev/ptmx"
        master = listener.take_master()
    try:
        first = read_until(master, b"before-resize\r\n")
        assert first.startswith(b"/dev/pts/"), first
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 77, 0, 0))
        os.write(master, b"go\n")
        rest = read_until(master, b"after-resize\r\n")
        assert b"33 77\r\n" in rest, rest
    finally:
        os.close(master)


def test_detached_exec_writes_the_pid_file_and_returns_while_the_process_runs(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    init = running(shim, make_bundle, cid)
    res = shim("exec", "--detach", "--pid-file", "exec.pid", cid, *SLEEP, cwd=str(tmp_path))
    assert (res.code, res.out, res.err) == (0, "", ""), res
    text = (tmp_path / "exec.pid").read_text()
    assert text.isdigit(), repr(text)  # decimal, no newline
    pid = int(text)
    assert not process_gone(pid)
    assert cmdline(pid) == SLEEP
    assert pid not in (init, 0)
    assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{init}/ns/pid")
    assert not (tmp_path / ".exec.pid").exists()


def test_preserve_fds_lets_the_process_write_to_the_callers_fd_3(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    running(shim, make_bundle, cid)
    r, w = os.pipe()
    try:
        # bash puts our pipe at the runtime's fd 3, whatever fd 3 is in this process.
        wrap = ["/bin/bash", "-c", f'exec "$@" 3>&{w} {w}>&-', "bash"]
        res = run_raw(
            shim,
            "exec",
            "--preserve-fds",
            "1",
            cid,
            "sh",
            "-c",
            "echo through-fd-3 >&3",
            pass_fds=(w,),
            wrap=wrap,
        )
        os.close(w)
        w = -1
        assert res.code == 0, res
        # Every write end is closed now (ours, the runtime's, the process's): read to EOF.
        ready, _, _ = select.select([r], [], [], TIMEOUT)
        assert ready, "nothing arrived on fd 3"
        assert os.read(r, 4096) == b"through-fd-3\n"
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


# --------------------------------------------------------------------------- stdio volume


def test_exec_stdin_eof_reaches_the_process(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    running(shim, make_bundle, cid)
    data = os.urandom(300_000)
    res = run_raw(shim, "exec", cid, "cat", input=data)
    assert res.code == 0, res.err
    assert res.out == data


def test_concurrent_execs_each_get_their_own_output_and_status(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    init = running(shim, make_bundle, cid)
    before = inside(init)
    outs = {n: tmp_path / f"out-{n}" for n in range(1, 21)}
    procs: dict[int, subprocess.Popen[bytes]] = {}
    try:
        for n, out in outs.items():
            procs[n] = popen_exec(shim, out, cid, "sh", "-c", f"echo {n}; exit {n}")
    finally:
        codes = {n: finish(p) for n, p in procs.items()}
    assert codes == {n: n for n in outs}, {n: o.read_text() for n, o in outs.items()}
    assert {n: o.read_text() for n, o in outs.items()} == {n: f"{n}\n" for n in outs}
    assert_unchanged(init, before)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_one_gib_through_stdout_arrives_intact(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    running(shim, make_bundle, cid)
    proc = subprocess.Popen(
        shim.argv("exec", cid, "head", "-c", str(GIB), "/dev/zero"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    watchdog = threading.Timer(60, proc.kill)  # a stall becomes a short read, not a hang
    watchdog.start()
    digest, count = hashlib.sha256(), 0
    try:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            digest.update(chunk)
            count += len(chunk)
    finally:
        watchdog.cancel()
        code = finish(proc)
    expected = hashlib.sha256()
    zeros = bytes(1 << 20)
    for _ in range(GIB >> 20):
        expected.update(zeros)
    assert (code, count) == (0, GIB)
    assert digest.hexdigest() == expected.hexdigest()


# --------------------------------------------------------------------------- failures


class Bad(NamedTuple):
    """A failing exec: argv around the id, our message, and the part runc says too."""

    before: list[str]  # flags before the id; `{tmp}` is the test's tmp dir
    after: list[str]  # the command after the id
    ours: str  # must be in our error message
    common: str  # must be in runc's message as well
    files: tuple[tuple[str, str], ...] = ()  # (name, content) written into tmp first


BAD = {
    "no-command": Bad(
        [], [], "exec failed: process args cannot be empty", "process args cannot be empty"
    ),
    "missing-process-json": Bad(
        ["-p", "{tmp}/missing.json"],
        [],
        "exec failed: open {tmp}/missing.json: no such file or directory",
        "open {tmp}/missing.json: no such file or directory",
    ),
    "malformed-process-json": Bad(
        ["-p", "{tmp}/bad.json"], [], "{tmp}/bad.json", "exec failed: ", (("bad.json", "{bad"),)
    ),
    "wrong-type-in-process-json": Bad(
        ["-p", "{tmp}/bad.json"],
        [],
        "user.uid",
        "user.uid",
        (("bad.json", '{"args": ["true"], "cwd": "/", "user": {"uid": "x"}}'),),
    ),
    "relative-cwd-in-process-json": Bad(
        ["-p", "{tmp}/rel.json"],
        [],
        "exec failed: Cwd must be an absolute path",
        "exec failed: Cwd must be an absolute path",
        (("rel.json", '{"args": ["true"], "cwd": "tmp"}'),),
    ),
    "empty-args-in-process-json": Bad(
        ["-p", "{tmp}/empty.json"],
        [],
        "exec failed: args must not be empty",
        "exec failed: args must not be empty",
        (("empty.json", '{"args": [], "cwd": "/"}'),),
    ),
    "non-numeric-user": Bad(
        ["--user", "abc"],
        ["true"],
        'exec failed: parsing abc as int for uid failed: strconv.Atoi: parsing "abc": '
        "invalid syntax",
        'parsing abc as int for uid failed: strconv.Atoi: parsing "abc": invalid syntax',
    ),
    "non-numeric-gid": Bad(
        ["--user", "1:abc"],
        ["true"],
        'exec failed: parsing abc as int for gid failed: strconv.Atoi: parsing "abc": '
        "invalid syntax",
        'parsing abc as int for gid failed: strconv.Atoi: parsing "abc": invalid syntax',
    ),
    "nonexistent-binary": Bad(
        [],
        ["nonexist"],
        'exec failed: unable to start container process: exec: "nonexist": '
        "executable file not found in $PATH",
        'exec: "nonexist": executable file not found in $PATH',
    ),
    "directory-as-binary": Bad(
        [], ["/etc"], 'exec: "/etc": permission denied', 'exec: "/etc": permission denied'
    ),
    "nonexistent-cwd": Bad(
        ["--cwd", "/nonexistent"],
        ["true"],
        'chdir to cwd ("/nonexistent") set in config.json',
        # runc 1.1.5, observed: the words of the whole message, which clients show.
        'unable to start container process: chdir to cwd ("/nonexistent") set in '
        "config.json failed: no such file or directory",
    ),
    "stale-pid-file-temp": Bad(
        ["-d", "--pid-file", "{tmp}/exec.pid"],
        SLEEP,
        "exec failed: open {tmp}/.exec.pid: file exists",
        # runc then SIGKILLs the process it started (facts sheet 4.2).
        "exec failed: open {tmp}/.exec.pid: file exists",
        ((".exec.pid", ""),),
    ),
    # No LSM on this host: the kernel refuses the AppArmor write, runc refuses the label.
    "apparmor": Bad(
        ["--apparmor", "x"],
        ["sh", "-c", "touch /dev/shm/ran"],
        "exec failed: unable to start container process: apparmor failed to apply profile: "
        "write /proc/thread-self/attr/exec",
        "apparmor failed to apply profile: write /proc/",
    ),
    "process-label": Bad(
        ["--process-label", "system_u:system_r:container_t:s0"],
        ["sh", "-c", "touch /dev/shm/ran"],
        "exec failed: selinux label is specified in config, but selinux is disabled or not "
        "supported",
        "selinux label is specified in config, but selinux is disabled or not supported",
    ),
    "tty-detached-without-socket": Bad(
        ["-t", "-d"],
        ["true"],
        "exec failed: cannot allocate tty if runc will detach without setting console socket",
        "cannot allocate tty if runc will detach without setting console socket",
    ),
    "socket-without-tty": Bad(
        ["--console-socket", "{tmp}/nobody.sock"],
        ["true"],
        "exec failed: cannot use console socket if runc will not detach or allocate tty",
        "cannot use console socket if runc will not detach or allocate tty",
    ),
}


def _bad_argv(case: Bad, cid: str, tmp: Path) -> list[str]:
    for name, content in case.files:
        (tmp / name).write_text(content)
    return [a.format(tmp=tmp) for a in [*case.before, cid, *case.after]]


def test_failed_exec_exits_255_and_leaves_nothing_in_the_container(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path, subtests: pytest.Subtests
) -> None:
    init = running(shim, make_bundle, cid)
    for name, case in BAD.items():
        with subtests.test(msg=name):
            before = inside(init)
            res = shim("exec", *_bad_argv(case, cid, tmp_path))
            assert_fails(res, case.ours.format(tmp=tmp_path), EXEC_FAILED)
            assert_unchanged(init, before)
            assert status(shim, cid) == "running"
    # Nothing of a failed command ran (the apparmor case would have left a mark).
    assert shim("exec", cid, "test", "-e", "/dev/shm/ran").code == 1


@needs_runc
def test_failed_exec_exit_code_and_message_match_runc(
    shim: Shim,
    runc: Shim,
    make_bundle: BundleFactory,
    cid: str,
    rid: str,
    tmp_path: Path,
    subtests: pytest.Subtests,
) -> None:
    running(shim, make_bundle, cid)
    running(runc, make_bundle, rid)
    for name, case in BAD.items():
        with subtests.test(msg=name):
            common = case.common.format(tmp=tmp_path)
            theirs = runc("exec", *_bad_argv(case, rid, tmp_path))
            assert_fails(theirs, common, EXEC_FAILED)  # the facts hold for this runc
            ours = shim("exec", *_bad_argv(case, cid, tmp_path))
            assert_fails(ours, common, EXEC_FAILED)


def test_exec_with_an_unknown_id_fails_255(shim: Shim, cid: str) -> None:
    assert_fails(shim("exec", cid, "true"), "exec failed: container does not exist", EXEC_FAILED)


def test_exec_in_a_stopped_container_fails_255(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    running(shim, make_bundle, cid, ["true"])
    wait_status(shim, cid, "stopped")
    res = shim("exec", cid, "true")
    assert_fails(res, "exec failed: cannot exec in a stopped container", EXEC_FAILED)


@needs_runc
def test_exec_on_unknown_and_stopped_containers_matches_runc(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    for rt, name in ((shim, cid), (runc, rid)):
        res = rt("exec", name, "true")
        assert_fails(res, "exec failed: container does not exist", EXEC_FAILED)
        running(rt, make_bundle, name, ["true"])
        wait_status(rt, name, "stopped")
        res = rt("exec", name, "true")
        assert_fails(res, "exec failed: cannot exec in a stopped container", EXEC_FAILED)


def test_exec_usage_errors_exit_1_not_255(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    running(shim, make_bundle, cid)
    res = shim("exec", "-g", "abc", cid, "true")
    assert_fails(res, 'invalid value "abc" for flag -g', 1)
    res = shim("exec", "-e", "A=1", "--env", "B=2", cid, "true")
    assert_fails(res, "Cannot use two forms of the same flag: e env", 1)
