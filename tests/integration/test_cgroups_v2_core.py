"""The controller-free half of the v2 driver on the real cgroup2 tree: cgroup.procs,
cgroup.freeze with cgroup.events, cgroup.kill, signal_all, and the v1 freezer and
OOM eventfd on a real v1 memory cgroup.

Everything lives below a `shim-test-<random>` cgroup of the test's own (created and
removed here, thawed and emptied first even after a failure). Host mounts and other
cgroups are never touched.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest

from shim.cgroups import read_hierarchy, read_own_cgroups
from shim.cgroups.freezer import freeze_v1, freeze_v2, thaw_v1, thaw_v2
from shim.cgroups.manager import HybridManager, V1Manager, V2Manager
from shim.cgroups.oom import V1OomWatch
from tests.conftest import BUSYBOX, needs_busybox

pytestmark = [
    pytest.mark.privileged,
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create cgroups"),
]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    assert isinstance(request.param, str)
    return request.param


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def _unified_root() -> Path:
    unified = read_hierarchy().unified
    if unified is None:
        pytest.skip("no cgroup2 mount on this host")
    own = read_own_cgroups().get("", "/")
    return Path(unified.mountpoint + own.rstrip("/"))


def _teardown(top: Path, kill_file: str) -> list[str]:
    """Thaw, kill and remove everything below (and including) `top`; return strays."""
    strays: list[str] = []
    if not top.exists():
        return strays
    for directory in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        strays.append(str(directory))
    for directory in [top, *(Path(s) for s in strays)]:
        for name, value in (("cgroup.freeze", "0"), ("freezer.state", "THAWED")):
            if (directory / name).exists():
                (directory / name).write_text(value)
        for pid in (directory / kill_file).read_text().split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
    for directory in [*(Path(s) for s in strays), top]:
        _wait_empty(directory)
        directory.rmdir()
    return strays


def _wait_empty(directory: Path) -> None:
    wait_for(lambda: not (directory / "cgroup.procs").read_text().strip(), f"{directory} empty")


@pytest.fixture
def v2_dir() -> Iterator[Path]:
    """`<own cgroup2>/shim-test-<random>/c1`: a leaf the test may use freely."""
    top = _unified_root() / f"shim-test-{secrets.token_hex(4)}"
    leaf = top / "c1"
    leaf.mkdir(parents=True)
    try:
        yield leaf
    finally:
        strays = _teardown(top, "cgroup.procs")
        assert strays == [str(leaf)], strays


@pytest.fixture
def v1_dirs() -> Iterator[dict[str, str]]:
    """`shim-test-<random>` below this process's own memory and freezer cgroups."""
    hierarchy, own = read_hierarchy(), read_own_cgroups()
    name = f"shim-test-{secrets.token_hex(4)}"
    paths: dict[str, str] = {}
    for controller in ("memory", "freezer"):
        mount = hierarchy.v1.get(controller)
        if mount is None or controller not in own:
            pytest.skip(f"no v1 {controller} controller here")
        paths[controller] = f"{mount.mountpoint}{own[controller].rstrip('/')}/{name}"
    try:
        for directory in paths.values():
            os.mkdir(directory)
        yield paths
    finally:
        for directory in paths.values():
            assert _teardown(Path(directory), "cgroup.procs") == []


@pytest.fixture
def spawn() -> Iterator[Callable[[list[str], list[Path]], subprocess.Popen[bytes]]]:
    """Start a child that is moved into the given cgroups before it execs."""
    children: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], cgroups: list[Path]) -> subprocess.Popen[bytes]:
        def join() -> None:
            for directory in cgroups:
                (directory / "cgroup.procs").write_text(str(os.getpid()))

        child = subprocess.Popen(argv, preexec_fn=join)
        children.append(child)
        return child

    yield start
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)


def _frozen_task(pid: int) -> bool:
    """A task frozen by cgroup v2 sleeps in do_freezer_trap, called from get_signal (the
    kernel's wait channel names one or the other, as inlining goes)."""
    return Path(f"/proc/{pid}/wchan").read_text() in ("do_freezer_trap", "get_signal")


def _state(pid: int) -> str:
    raw = Path(f"/proc/{pid}/stat").read_bytes()
    return raw[raw.rindex(b")") + 2 :].split()[0].decode()


def test_v2_freeze_waits_for_cgroup_events_and_thaw_undoes_it(
    v2_dir: Path, spawn: Callable[[list[str], list[Path]], subprocess.Popen[bytes]]
) -> None:
    child = spawn(["sleep", "30"], [v2_dir])
    manager = V2Manager({"": str(v2_dir)})
    assert manager.pids() == [child.pid]
    freeze_v2(str(v2_dir))
    # The kernel's word, not our reader's: cgroup.events says frozen, the task is stopped.
    assert "frozen 1" in (v2_dir / "cgroup.events").read_text().splitlines()
    assert _frozen_task(child.pid)
    assert manager.frozen()
    thaw_v2(str(v2_dir))
    assert "frozen 0" in (v2_dir / "cgroup.events").read_text().splitlines()
    wait_for(lambda: not _frozen_task(child.pid), "the task to thaw")
    assert not manager.frozen()


def test_v2_sigkill_goes_through_cgroup_kill_even_when_frozen(
    v2_dir: Path, spawn: Callable[[list[str], list[Path]], subprocess.Popen[bytes]]
) -> None:
    if not (v2_dir / "cgroup.kill").exists():
        pytest.skip("no cgroup.kill (Linux < 5.14)")
    children = [spawn(["sleep", "30"], [v2_dir]) for _ in range(3)]
    manager = V2Manager({"": str(v2_dir)})
    manager.freeze()
    manager.signal_all(signal.SIGKILL)
    for child in children:
        assert child.wait(timeout=10) == -signal.SIGKILL
    wait_for(lambda: manager.pids() == [], "an empty cgroup")
    assert not manager.frozen()  # thawed afterwards, as runc leaves it


def test_v2_other_signals_freeze_signal_and_thaw(
    v2_dir: Path, spawn: Callable[[list[str], list[Path]], subprocess.Popen[bytes]]
) -> None:
    child = spawn(["sleep", "30"], [v2_dir])
    manager = V2Manager({"": str(v2_dir)})
    manager.signal_all(signal.SIGTERM)
    assert child.wait(timeout=10) == -signal.SIGTERM
    assert not manager.frozen()


def test_v2_pids_include_nested_cgroups(
    v2_dir: Path, spawn: Callable[[list[str], list[Path]], subprocess.Popen[bytes]]
) -> None:
    nested = v2_dir / "inner"
    nested.mkdir()
    try:
        child = spawn(["sleep", "30"], [nested])
        assert V2Manager({"": str(v2_dir)}).pids() == [child.pid]
        V2Manager({"": str(v2_dir)}).signal_all(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        _wait_empty(nested)
        nested.rmdir()


def _opens_in(directory: Path) -> str:
    """From a shell in `directory`, open /dev/kmsg for reading and for writing and
    /dev/loop-control for reading, closing each at once. Only a device rule can refuse
    these opens (EPERM) to root; writing /dev/full (ENOSPC) or a 1-byte read of /dev/kmsg
    (EINVAL) would fail whatever the rules, and /dev/full is in runc's default allow list."""
    script = (
        "(: < /dev/kmsg) 2>&1; echo kmsg-r=$?; (: >> /dev/kmsg) 2>&1; echo kmsg-w=$?;"
        " (: < /dev/loop-control) 2>&1; echo loop-r=$?"
    )

    def join() -> None:
        (directory / "cgroup.procs").write_text(str(os.getpid()))

    res = subprocess.run(
        [BUSYBOX, "sh", "-c", script],
        capture_output=True,
        text=True,
        preexec_fn=join,
        timeout=10,
    )
    assert res.returncode == 0, res
    return res.stdout


@needs_busybox
def test_v2_device_rules_become_an_attached_bpf_program(v2_dir: Path) -> None:
    from shim.cgroups.devices import Rule

    assert _opens_in(v2_dir) == "kmsg-r=0\nkmsg-w=0\nloop-r=0\n"  # no program yet
    rules = [Rule(False, "a", -1, -1, "rwm"), Rule(True, "c", 1, 11, "r")]  # kmsg: read only
    V2Manager({"": str(v2_dir)}).apply(None, rules)
    assert _opens_in(v2_dir) == (
        "kmsg-r=0\n"
        "sh: can't create /dev/kmsg: Operation not permitted\nkmsg-w=1\n"
        "sh: can't open /dev/loop-control: Operation not permitted\nloop-r=1\n"
    )


_NO_CFFI_PARSER = """
import sys
from shim.cgroups.devices import Rule
from shim.cgroups.manager import V2Manager
from shim.cgroups.oom import V2OomWatch

V2Manager({"": sys.argv[1]}).apply(None, [Rule(True, "c", 1, 7, "r")])
V2OomWatch(sys.argv[2]).close()
print(sorted(m for m in sys.modules if m.split(".")[0] in ("cffi", "pycparser", "_cffi_backend")))
"""


def test_v2_device_program_and_oom_watch_use_no_cffi_parser(v2_dir: Path, tmp_path: Path) -> None:
    # cffi's C parser (the `cffi` package, pycparser) costs 60-70 ms when imported:
    # the bindings are compiled at install, so only `_cffi_backend` may load. This
    # hybrid host's memory controller is v1: the OOM watch reads a memory.events of ours.
    (tmp_path / "memory.events").write_text("oom 0\noom_kill 0\n")
    out = subprocess.run(
        [sys.executable, "-c", _NO_CFFI_PARSER, str(v2_dir), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "['_cffi_backend']", out.stderr


def test_v1_freezer_freezes_and_thaws_a_real_task(
    v1_dirs: dict[str, str], spawn: Callable[[list[str], list[Path]], subprocess.Popen[bytes]]
) -> None:
    freezer = Path(v1_dirs["freezer"])
    child = spawn(["sleep", "30"], [freezer])
    freeze_v1(str(freezer))
    assert (freezer / "freezer.state").read_text().strip() == "FROZEN"
    assert V1Manager({"freezer": str(freezer)}).frozen()
    thaw_v1(str(freezer))
    assert (freezer / "freezer.state").read_text().strip() == "THAWED"
    assert _state(child.pid) in ("S", "R")


def test_hybrid_sigkill_kills_a_v1_frozen_container(
    v1_dirs: dict[str, str],
    v2_dir: Path,
    spawn: Callable[[list[str], list[Path]], subprocess.Popen[bytes]],
) -> None:
    freezer = Path(v1_dirs["freezer"])
    child = spawn(["sleep", "30"], [freezer, v2_dir])
    manager = HybridManager({"freezer": str(freezer), "devices": str(freezer), "": str(v2_dir)})
    manager.freeze()
    manager.signal_all(signal.SIGKILL)
    assert child.wait(timeout=10) == -signal.SIGKILL
    assert not manager.frozen()


@pytest.mark.anyio
async def test_v1_oom_eventfd_fires_on_an_oom_kill(
    v1_dirs: dict[str, str],
    spawn: Callable[[list[str], list[Path]], subprocess.Popen[bytes]],
    anyio_backend: str,
) -> None:
    memory = Path(v1_dirs["memory"])
    (memory / "memory.limit_in_bytes").write_text(str(16 << 20))
    if (memory / "memory.memsw.limit_in_bytes").exists():
        (memory / "memory.memsw.limit_in_bytes").write_text(str(16 << 20))
    watch = V1OomWatch(str(memory))
    try:
        hog = spawn(["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"], [memory])
        with anyio.fail_after(20):
            await anyio.wait_readable(watch.fileno())
            assert watch.read() == 1
        assert hog.wait(timeout=10) == -signal.SIGKILL
    finally:
        watch.close()
