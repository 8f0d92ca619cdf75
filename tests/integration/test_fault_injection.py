"""Fault injection (issue 16): `create`, `run -d`, `exec` and `delete` SIGKILLed at many
points, then `delete --force`, then the host must show nothing of the container: no
process, no cgroup in any hierarchy, no mount, no state.

Two ways to choose the moment:
- by time: the command is stopped (SIGSTOP) N ms after it started; the helper processes
  it started are stopped too, as they were, and recorded (pidfds); the command gets
  SIGKILL and the helpers SIGCONT, so they carry on as they would after a real kill;
- by handshake step: a test build of the helper (tests/integration/_test_helper.py)
  stops itself at a named point (SHIM_INIT_TEST=stop:<point>); once it sits there and
  the runtime waits for its next message, the runtime gets SIGKILL.
Every helper process recorded must be gone after `delete --force` (it exits on its own
once its parent is gone, or delete kills it), whatever it was doing.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    TIMEOUT,
    BundleFactory,
    Shim,
    leaked_cgroups,
    leaked_mounts,
    needs_busybox,
    needs_root,
)
from tests.integration._runc_compare import pid_of, wait_until
from tests.integration._test_helper import fault, hooks_helper

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(60)]
__all__ = ["fault", "hooks_helper"]  # fixtures, used by name

# When to kill: fractions of how long the command takes on this machine (measured once),
# so the points spread over its whole run (start-up, cgroups, handshake, state) anywhere.
FRACTIONS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
GONE_WAIT = 10.0


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return "gone"


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            found |= {int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()}
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


class Command:
    """A shim command started in the background, with output to files (a container
    holds its stdio open), and every helper process it started, pinned by pidfd."""

    def __init__(self, argv: list[str]) -> None:
        self.out = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT
        )
        self.pidfd = os.pidfd_open(self.proc.pid)
        self.helpers: dict[int, int] = {}  # pid -> pidfd

    def freeze(self) -> bool:
        """Stop it and every process it started, as they are. False if it had finished."""
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGSTOP)
        except ProcessLookupError:
            return False
        if self.proc.poll() is not None:
            return False
        while True:  # until no helper is running (a running one could still clone)
            fresh = _children(self.proc.pid) - set(self.helpers)
            if not fresh:
                return True
            for pid in fresh:
                try:
                    self.helpers[pid] = os.pidfd_open(pid)
                    signal.pidfd_send_signal(self.helpers[pid], signal.SIGSTOP)
                except ProcessLookupError:
                    continue

    def adopt_children(self) -> None:
        for pid in _children(self.proc.pid) - set(self.helpers):
            try:
                self.helpers[pid] = os.pidfd_open(pid)
            except ProcessLookupError:
                continue

    def kill(self) -> None:
        """SIGKILL the command; its helpers carry on (SIGCONT) as after a real kill."""
        try:
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(TIMEOUT)
        for pidfd in self.helpers.values():
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def finish(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(TIMEOUT)

    def left_running(self) -> list[int]:
        """Helpers still alive GONE_WAIT seconds from now (zombies count as gone)."""
        deadline = time.monotonic() + GONE_WAIT
        alive = []
        for pid, pidfd in self.helpers.items():
            wait = max(0.0, deadline - time.monotonic())
            if not select.select([pidfd], [], [], wait)[0]:
                alive.append(pid)
        return alive

    def close(self) -> None:
        for pidfd in [self.pidfd, *self.helpers.values()]:
            os.close(pidfd)
        self.out.close()


@pytest.fixture
def commands() -> Iterator[list[Command]]:
    made: list[Command] = []
    yield made
    for cmd in made:
        cmd.finish()
        for pid, pidfd in cmd.helpers.items():  # only after a failure: never leave one
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            del pid
        cmd.close()


def _start(shim: Shim, commands: list[Command], *args: str) -> Command:
    if args[0] in ("create", "run"):
        shim.ids.add(args[-1])
    cmd = Command(shim.argv(*args))
    commands.append(cmd)
    return cmd


def _assert_nothing_left(shim: Shim, cid: str, tmp_path: Path, *cmds: Command) -> None:
    res = shim("delete", "--force", cid)
    assert res.code == 0, res
    assert not (shim.root / cid).exists(), "state dir left"
    assert leaked_cgroups(cid) == [], f"cgroups left; {res}"
    assert leaked_mounts(tmp_path) == [], "mounts left"
    for cmd in cmds:
        alive = cmd.left_running()
        assert alive == [], f"helper processes left running: {alive}"


# -- by time -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def durations(tmp_path_factory: pytest.TempPathFactory, rootfs_template: Path) -> dict[str, float]:
    """Seconds each command takes here (the fastest of three)."""
    base = tmp_path_factory.mktemp("durations")
    bundle = base / "bundle"
    shutil.copytree(rootfs_template, bundle, symlinks=True)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["args"] = ["sleep", "30"]
    (bundle / "config.json").write_text(json.dumps(config))
    shim = Shim(base / "state")
    taken: dict[str, list[float]] = {}

    def timed(verb: str, *args: str) -> None:
        started = time.monotonic()
        shim.ok(*args)
        taken.setdefault(verb, []).append(time.monotonic() - started)

    for i in range(3):
        name = f"{uuid.uuid4().hex[:8]}-{i}"
        timed("create", "create", "--bundle", str(bundle), name)
        timed("delete", "delete", "--force", name)
        timed("run", "run", "-d", "--bundle", str(bundle), name)
        timed("exec", "exec", name, "true")
        shim.ok("delete", "--force", name)
        assert leaked_cgroups(name) == []
    return {verb: min(times) for verb, times in taken.items()}


def _at(durations: dict[str, float], verb: str, fraction: float) -> float:
    return durations[verb] * fraction


@pytest.mark.parametrize("fraction", FRACTIONS)
@pytest.mark.parametrize("verb", ["create", "run"])
def test_create_or_run_killed_at_a_time_leaves_nothing_after_delete_force(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path,
    commands: list[Command], durations: dict[str, float], verb: str, fraction: float,
) -> None:  # fmt: skip
    bundle = make_bundle(["sleep", "30"])
    args = ["create"] if verb == "create" else ["run", "-d"]
    cmd = _start(shim, commands, *args, "--bundle", str(bundle), cid)
    time.sleep(_at(durations, verb, fraction))
    if cmd.freeze():
        cmd.kill()
    else:
        cmd.finish()  # done before the kill: then the container is whole
        cmd.adopt_children()
    _assert_nothing_left(shim, cid, tmp_path, cmd)


@pytest.mark.parametrize("fraction", FRACTIONS)
def test_exec_killed_at_a_time_leaves_nothing_after_delete_force(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path,
    commands: list[Command], durations: dict[str, float], fraction: float,
) -> None:  # fmt: skip
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "30"])), cid)
    init = os.pidfd_open(pid_of(shim, cid))
    try:
        cmd = _start(shim, commands, "exec", cid, "sleep", "30")
        time.sleep(_at(durations, "exec", fraction))
        if cmd.freeze():
            cmd.kill()
        _assert_nothing_left(shim, cid, tmp_path, cmd)
        assert select.select([init], [], [], GONE_WAIT)[0], "the container's init is alive"
    finally:
        os.close(init)


@pytest.mark.parametrize("fraction", FRACTIONS[:8])
def test_delete_killed_at_a_time_leaves_nothing_after_delete_force(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path,
    commands: list[Command], durations: dict[str, float], fraction: float,
) -> None:  # fmt: skip
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "30"])), cid)
    shim.ok("exec", "-d", cid, "sleep", "30")
    init = os.pidfd_open(pid_of(shim, cid))
    try:
        cmd = _start(shim, commands, "delete", "--force", cid)
        time.sleep(_at(durations, "delete", fraction))
        if cmd.freeze():
            cmd.kill()
        _assert_nothing_left(shim, cid, tmp_path, cmd)
        assert select.select([init], [], [], GONE_WAIT)[0], "the container's init is alive"
    finally:
        os.close(init)


# -- by handshake step -------------------------------------------------------------------

CREATE_STEPS = ["h1-hello", "h1-boot", "h1-child", "h2-start", "h2-rootfs", "h2-ready",
                "h2-pending"]  # fmt: skip
EXEC_STEPS = ["h1-hello", "h1-boot", "h1-child", "h2-start", "h2-ready", "h2-pending"]


def _stopped_at_step(cmd: Command, step: str) -> bool:
    """A helper sits stopped at its point (H1 stops itself; H2, pid 1 of its namespace,
    waits there for our SIGSTOP) and the runtime waits (sleeps) for it."""
    cmd.adopt_children()
    stopped = False
    for pid, pidfd in cmd.helpers.items():
        try:
            at_step = Path(f"/proc/{pid}/comm").read_text().strip() == f"at:{step}"
        except (FileNotFoundError, ProcessLookupError):
            continue
        if at_step and _state(pid) != "T":
            signal.pidfd_send_signal(pidfd, signal.SIGSTOP)
        stopped = stopped or (at_step and _state(pid) == "T")
    return stopped and _state(cmd.proc.pid) == "S"


# h2-fifo: the init about to wait for `start`; create has returned by then, run -d has not.
STEP_CASES = [("create", s) for s in CREATE_STEPS] + [
    ("run", s) for s in [*CREATE_STEPS, "h2-fifo"]
]


@pytest.mark.parametrize(("verb", "step"), STEP_CASES)
def test_create_or_run_killed_at_a_handshake_step_leaves_nothing_after_delete_force(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path,
    commands: list[Command], fault: pytest.MonkeyPatch, verb: str, step: str,
) -> None:  # fmt: skip
    fault.setenv("SHIM_INIT_TEST", f"stop:{step}")
    args = ["create"] if verb == "create" else ["run", "-d"]
    cmd = _start(shim, commands, *args, "--bundle", str(make_bundle(["sleep", "30"])), cid)
    wait_until(f"the helper to stop at {step}", lambda: _stopped_at_step(cmd, step), timeout=20)
    cmd.kill()
    _assert_nothing_left(shim, cid, tmp_path, cmd)


@pytest.mark.parametrize("step", EXEC_STEPS)
def test_exec_killed_at_a_handshake_step_leaves_nothing_after_delete_force(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path,
    commands: list[Command], fault: pytest.MonkeyPatch, step: str,
) -> None:  # fmt: skip
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "30"])), cid)
    fault.setenv("SHIM_INIT_TEST", f"stop:{step}")
    cmd = _start(shim, commands, "exec", cid, "sleep", "30")
    wait_until(f"the helper to stop at {step}", lambda: _stopped_at_step(cmd, step), timeout=20)
    cmd.kill()
    _assert_nothing_left(shim, cid, tmp_path, cmd)
