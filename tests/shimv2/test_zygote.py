"""The zygote: a warm parent that forks shim daemons (shim/shimv2/zygote.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from shim.shimv2 import zygote
from shim.shimv2.start import answers
from tests.conftest import needs_root

from ._shim_env import Env, daemons_of
from .test_shim_binary import _connect

pytestmark = needs_root
TIMEOUT = 20


def _ppid(pid: int) -> int:
    raw = Path(f"/proc/{pid}/stat").read_bytes()
    return int(raw[raw.rindex(b")") + 2 :].split()[1])


def _zygote_pid(path: str) -> int | None:
    """The zygote serving `path` here: a zygote of another mount namespace (a test pass in
    a private one, say scripts/v2-only.sh) may have the same path in its argv, and so do
    the daemons a zygote forked."""
    ours = os.readlink("/proc/self/ns/mnt")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                mnt = os.readlink(f"/proc/{entry}/ns/mnt")
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            # its forked daemons carry the same argv, but sit in their bundles; it sits in /
            if b"-zygote" in argv and path.encode() in argv and mnt == ours and cwd == "/":
                return int(entry)
    return None


def _serving(path: str) -> bool:
    """The zygote at `path` accepts requests (it binds and listens before it warms up)."""
    return answers(path, socket.SOCK_SEQPACKET)


def _wait_for(predicate: object, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_once_a_zygote_runs_daemons_are_forked_from_it(env: Env) -> None:
    path = zygote.socket_path()
    env.start(env.bundle("first"), "first")  # starts the zygote if none runs yet
    _wait_for(lambda: _serving(path), "the zygote to serve")
    zpid = _zygote_pid(path)
    assert zpid is not None
    address = env.start(env.bundle("second"), "second")
    forked = [p for p in daemons_of(env.address) if _ppid(p) == zpid]
    assert len(forked) >= 1
    pid = anyio.run(_connect, address).shim_pid
    assert pid in forked  # the second daemon is the zygote's child, and it serves
    assert os.readlink(f"/proc/{pid}/cwd") == str(env.root / "second")
    assert os.getsid(pid) == pid
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(zygote.ZYGOTE_DIR).st_mode & 0o777 == 0o700


def test_without_the_zygote_start_spawns_a_fresh_interpreter(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIM_NO_ZYGOTE", "1")
    address = env.start(env.bundle("plain"), "plain")
    pid = anyio.run(_connect, address).shim_pid
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"-zygote" not in argv
    assert env.address.encode() in argv


def test_the_zygote_forks_nothing_for_garbage_or_another_user(env: Env) -> None:
    path = zygote.socket_path()
    env.start(env.bundle("warm"), "warm")
    _wait_for(lambda: _serving(path), "the zygote to serve")
    zpid = _zygote_pid(path)
    assert zpid is not None

    def children() -> set[int]:
        return {int(e) for e in os.listdir("/proc") if e.isdigit() and _safe_ppid(int(e)) == zpid}

    before = children()
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
        sock.settimeout(TIMEOUT)
        sock.connect(path)
        sock.send(b"{not json")
        assert b"error" in sock.recv(4096)
    # another user: connects (the socket is root's 0600, so connect itself is refused)
    probe = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET)\n"
        "try:\n s.connect(sys.argv[1])\nexcept PermissionError:\n print('refused')\n"
    )
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    out = subprocess.run(
        [*nobody, sys.executable, "-c", probe, path],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert out.stdout.strip() == "refused", out
    assert children() == before


def _safe_ppid(pid: int) -> int:
    try:
        return _ppid(pid)
    except OSError:
        return 0


def test_the_fingerprint_names_the_code() -> None:
    import shim

    root = os.path.dirname(shim.__file__)
    assert zygote.fingerprint() == zygote.fingerprint(root)
    assert zygote.socket_path().endswith(f"zygote-{zygote.fingerprint()}.sock")


def test_a_changed_file_changes_the_fingerprint(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    module = tmp_path / "pkg" / "m.py"
    module.write_text("x = 1\n")
    first = zygote.fingerprint(str(tmp_path))
    os.utime(module, ns=(0, 10**9))
    assert zygote.fingerprint(str(tmp_path)) != first


def test_an_idle_zygote_leaves_and_removes_its_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "z.sock")
    binary = str(Path(sys.executable).with_name("containerd-shim-pyshim-v1"))
    proc = subprocess.run(
        [binary, "-zygote", path],
        env=dict(os.environ, SHIM_ZYGOTE_IDLE="0.5"),
        timeout=TIMEOUT,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc
    assert not os.path.exists(path)


def test_a_dead_zygotes_socket_is_replaced(env: Env) -> None:
    """A SIGKILLed zygote leaves its socket file: the next start must get a new zygote,
    not fall back to fresh interpreters for good."""
    path = zygote.socket_path()
    env.start(env.bundle("warm"), "warm")
    _wait_for(lambda: _zygote_pid(path) is not None, "a zygote")
    zpid = _zygote_pid(path)
    assert zpid is not None
    os.kill(zpid, signal.SIGKILL)
    _wait_for(lambda: _zygote_pid(path) is None, "the zygote to die")
    assert os.path.exists(path)  # left behind, nobody answers there
    env.start(env.bundle("after"), "after")  # falls back, and starts a new zygote
    # serving, not only running: until it has replaced the stale socket, a start that
    # finds nobody answering falls back (and asks for yet another zygote)
    _wait_for(lambda: _zygote_pid(path) not in (None, zpid) and _serving(path), "a new zygote")
    address = env.start(env.bundle("forked"), "forked")
    pid = anyio.run(_connect, address).shim_pid
    assert _ppid(pid) == _zygote_pid(path)


def test_a_new_zygote_sweeps_sockets_that_killed_zygotes_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only old sockets nobody answers go: not a live zygote's, not one just bound (a
    zygote between bind and listen refuses too), not our own."""
    monkeypatch.setattr(zygote, "ZYGOTE_DIR", str(tmp_path))

    def bound(name: str, *, listening: bool, age: float) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.bind(str(tmp_path / name))
        if listening:
            sock.listen(1)
        when = time.time() - age
        os.utime(tmp_path / name, (when, when))
        return sock

    dead_old = bound("zygote-dead.sock", listening=False, age=600)
    dead_old.close()  # the file stays: as a SIGKILLed zygote's does
    fresh = bound("zygote-fresh.sock", listening=False, age=0)
    live = bound("zygote-live.sock", listening=True, age=600)
    ours = bound("zygote-ours.sock", listening=False, age=600)
    try:
        removed = zygote.sweep_dead_sockets(str(tmp_path / "zygote-ours.sock"))
        assert removed == [str(tmp_path / "zygote-dead.sock")]
        assert sorted(os.listdir(tmp_path)) == [
            "zygote-fresh.sock", "zygote-live.sock", "zygote-ours.sock"
        ]  # fmt: skip
    finally:
        for sock in (fresh, live, ours):
            sock.close()
