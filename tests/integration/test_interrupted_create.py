"""A create (or start, or foreground run) killed at any step leaves nothing after `delete --force`.

The create we interrupt runs under Popen; a hook that sleeps marks the step (it touches
a file when it starts). Processes are tracked as (pid, start time) so that a reused
pid never counts as a survivor; the helper is any process whose /proc/PID/exe is the
sealed memfd `/memfd:shim-init`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    TIMEOUT,
    BundleFactory,
    Shim,
    leaked_cgroups,
    needs_busybox,
    needs_root,
)

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(60)]

HELPER_EXE = "/memfd:shim-init"


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


# -- processes ---------------------------------------------------------------------------------

Proc = tuple[int, int]  # (pid, start time in clock ticks since boot)


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(ppid, state, start time) of pid, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return int(fields[1]), fields[0], int(fields[19])


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(root: int) -> list[Proc]:
    children: dict[int, list[Proc]] = {}
    for pid in _all_pids():
        st = _stat(pid)
        if st is not None:
            children.setdefault(st[0], []).append((pid, st[2]))
    found: list[Proc] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def alive(proc: Proc) -> bool:
    st = _stat(proc[0])
    return st is not None and st[2] == proc[1] and st[1] not in ("Z", "X")


def helpers_and_their_children(create_pid: int) -> list[Proc]:
    """The helper processes below the create (H1, H2) and everything they started."""
    below = descendants(create_pid)
    helpers = [p for p in below if exe(p[0]).startswith(HELPER_EXE)]
    tracked = list(helpers)
    for helper in helpers:
        tracked += [p for p in descendants(helper[0]) if p not in tracked]
    return tracked


def kill_survivors(procs: list[Proc]) -> None:
    for proc in procs:
        if alive(proc):
            try:
                os.kill(proc[0], signal.SIGKILL)
            except ProcessLookupError:
                pass


# -- the create we interrupt -------------------------------------------------------------------


class Interrupted:
    """A `shim create` under Popen whose hook marks, by touching a file, that it started."""

    def __init__(self, shim: Shim, cid: str, tmp_path: Path) -> None:
        self.shim = shim
        self.cid = cid
        self.marks = tmp_path / "marks"
        self.marks.mkdir()
        self.err = tmp_path / "create.err"
        self.proc: subprocess.Popen[bytes] | None = None
        self.tracked: list[Proc] = []

    def hook(self, name: str) -> dict[str, Any]:
        """A hook that records its stdin and pid, marks its start, then sleeps 30s."""
        script = self.marks / f"{name}.sh"
        script.write_text(
            f"#!/bin/sh\ncat > {self.marks}/{name}.stdin\necho $$ > {self.marks}/{name}.pid\n"
            f"touch {self.marks}/{name}.started\nexec sleep 30\n"
        )
        script.chmod(0o755)
        return {"path": str(script), "args": [str(script)], "env": []}

    def start(self, bundle: Path) -> subprocess.Popen[bytes]:
        self.shim.ids.add(self.cid)
        with self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                self.shim.argv("create", "--bundle", str(bundle), self.cid),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        return self.proc

    def wait_started(self, name: str) -> None:
        mark = self.marks / f"{name}.started"
        assert self.proc is not None
        proc = self.proc
        wait_for(lambda: mark.exists() or proc.poll() is not None, f"the {name} hook to start")
        assert mark.exists(), f"create ended first: {proc.returncode}, {self.err.read_text()}"

    def host_hook_pid(self, name: str) -> Proc | None:
        """The host pid of a host-side hook (it exec'd sleep), if it still runs."""
        try:
            pid = int((self.marks / f"{name}.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None
        st = _stat(pid)
        return (pid, st[2]) if st is not None else None

    def delete_force(self) -> str:
        res = self.shim("delete", "--force", self.cid)
        return repr(res)

    def assert_nothing_left(self, context: str) -> None:
        """No state dir, no cgroup, unknown to `state`/`list`, no tracked process alive."""
        assert not (self.shim.root / self.cid).exists(), f"state dir left; {context}"
        assert leaked_cgroups(self.cid) == [], f"cgroups left; {context}"
        assert self.shim("state", self.cid).code == 1, context
        assert self.cid not in self.shim.ok("list", "-q").out.split(), context
        assert self.tracked, "no helper process was seen to check"
        wait_for(
            lambda: not any(alive(p) for p in self.tracked),
            f"the helper processes {[p for p in self.tracked if alive(p)]} to die; {context}",
            timeout=5,
        )

    def cleanup(self, extra: list[Proc | None]) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait(timeout=TIMEOUT)
        kill_survivors(self.tracked + [p for p in extra if p is not None])


@pytest.fixture
def interrupted(shim: Shim, cid: str, tmp_path: Path) -> Iterator[Interrupted]:
    it = Interrupted(shim, cid, tmp_path)
    yield it
    it.cleanup([it.host_hook_pid("createRuntime")])


def with_hook(kind: str, hook: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def edit(c: dict[str, Any]) -> None:
        c["hooks"] = {kind: [hook]}

    return edit


# -- the cases ---------------------------------------------------------------------------------


def test_create_killed_during_create_runtime_hook_leaves_nothing_after_delete_force(
    interrupted: Interrupted, make_bundle: BundleFactory
) -> None:
    hook = interrupted.hook("createRuntime")
    bundle = make_bundle(["true"], edit=with_hook("createRuntime", hook))
    proc = interrupted.start(bundle)
    interrupted.wait_started("createRuntime")
    interrupted.tracked = helpers_and_their_children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=TIMEOUT)
    # The init's host pid was on the hook's stdin: it is one of the tracked helpers.
    stdin = (interrupted.marks / "createRuntime.stdin").read_text()
    assert any(f'"pid":{pid},' in stdin for pid, _ in interrupted.tracked), stdin
    deleted = interrupted.delete_force()
    interrupted.assert_nothing_left(deleted)


def test_create_killed_during_create_container_hook_leaves_nothing_after_delete_force(
    interrupted: Interrupted, make_bundle: BundleFactory
) -> None:
    hook = interrupted.hook("createContainer")
    bundle = make_bundle(["true"], edit=with_hook("createContainer", hook))
    proc = interrupted.start(bundle)
    interrupted.wait_started("createContainer")
    interrupted.tracked = helpers_and_their_children(proc.pid)
    assert any(exe(p[0]).endswith("sleep") for p in interrupted.tracked), interrupted.tracked
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=TIMEOUT)
    deleted = interrupted.delete_force()
    interrupted.assert_nothing_left(deleted)


def test_killed_init_in_created_state_is_stopped_and_deletes_cleanly(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["true"])
    shim.ok("create", "--bundle", str(bundle), cid)
    state = shim.state(cid)
    assert state["status"] == "created"
    pid = state["pid"]
    assert isinstance(pid, int)
    init = _stat(pid)
    assert init is not None
    tracked = [(pid, init[2])]
    try:
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: shim.state(cid)["status"] == "stopped", "the state to say stopped")
        res = shim("start", cid)
        assert res.code == 1, res
        assert "cannot start a container that has stopped" in res.err
        shim.ok("delete", cid)
        assert not (shim.root / cid).exists()
        assert leaked_cgroups(cid) == []
        assert shim("state", cid).code == 1
        wait_for(lambda: not alive(tracked[0]), "the init to be gone", timeout=5)
    finally:
        kill_survivors(tracked)


def test_helper_killed_during_create_container_hook_fails_create_and_leaves_nothing(
    interrupted: Interrupted, make_bundle: BundleFactory
) -> None:
    hook = interrupted.hook("createContainer")
    bundle = make_bundle(["true"], edit=with_hook("createContainer", hook))
    proc = interrupted.start(bundle)
    interrupted.wait_started("createContainer")
    interrupted.tracked = helpers_and_their_children(proc.pid)
    helpers = [p for p in interrupted.tracked if exe(p[0]).startswith(HELPER_EXE)]
    assert helpers, interrupted.tracked
    for pid, _ in helpers:
        os.kill(pid, signal.SIGKILL)
    code = proc.wait(timeout=TIMEOUT)
    err = interrupted.err.read_text()
    assert code == 1, err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one clear error line, got:\n{err}"
    assert 'level=error msg="shim create failed: ' in lines[0], err
    assert "Traceback" not in err
    # No delete: a failed create cleans up after itself.
    interrupted.assert_nothing_left(err)
    # Clear: it says the helper was killed (the runtime is its parent and saw the signal).
    assert "signal" in lines[0] or "killed" in lines[0], err


def test_start_killed_during_start_container_hook_leaves_nothing_after_delete_force(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()

    def edit(c: dict[str, Any]) -> None:
        c["hooks"] = {"startContainer": [{"path": "/hook.sh", "args": ["/hook.sh"]}]}
        c["mounts"].append(
            {"destination": "/marks", "type": "bind", "source": str(marks), "options": ["rbind"]}
        )

    bundle = make_bundle(["sleep", "30"], edit=edit)
    hook = bundle / "rootfs/hook.sh"
    hook.write_text("#!/bin/sh\ntouch /marks/started\nexec sleep 30\n")
    hook.chmod(0o755)
    shim.ok("create", "--bundle", str(bundle), cid)
    pid = shim.state(cid)["pid"]
    assert isinstance(pid, int)
    init = _stat(pid)
    assert init is not None
    tracked: list[Proc] = [(pid, init[2])]
    starter = subprocess.Popen(
        shim.argv("start", cid), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    try:
        wait_for(lambda: (marks / "started").exists(), "the startContainer hook to start")
        tracked += descendants(pid)
        starter.send_signal(signal.SIGKILL)
        starter.wait(timeout=TIMEOUT)
        res = shim("delete", "--force", cid)
        assert not (shim.root / cid).exists(), res
        assert leaked_cgroups(cid) == [], res
        assert shim("state", cid).code == 1, res
        wait_for(
            lambda: not any(alive(p) for p in tracked),
            f"the container's processes {[p for p in tracked if alive(p)]} to die; {res}",
            timeout=5,
        )
    finally:
        if starter.poll() is None:
            starter.kill()
        starter.wait(timeout=TIMEOUT)
        kill_survivors(tracked)


def test_foreground_run_killed_leaves_nothing_after_delete_force(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    bundle = make_bundle(["sh", "-c", "echo up; exec sleep 30"])
    out = tmp_path / "run.out"
    shim.ids.add(cid)
    with out.open("wb") as out_file:
        runner = subprocess.Popen(
            shim.argv("run", "--bundle", str(bundle), cid),
            stdin=subprocess.DEVNULL,
            stdout=out_file,
            stderr=subprocess.STDOUT,
        )
    tracked: list[Proc] = []
    try:
        wait_for(lambda: out.read_bytes().startswith(b"up\n"), "the container to run")
        tracked = descendants(runner.pid)
        assert tracked, "no container process under run"
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=TIMEOUT)
        res = shim("delete", "--force", cid)
        assert not (shim.root / cid).exists(), res
        assert leaked_cgroups(cid) == [], res
        assert shim("state", cid).code == 1, res
        wait_for(
            lambda: not any(alive(p) for p in tracked),
            f"the container's processes {[p for p in tracked if alive(p)]} to die; {res}",
            timeout=5,
        )
    finally:
        if runner.poll() is None:
            runner.kill()
        runner.wait(timeout=TIMEOUT)
        kill_survivors(tracked)
