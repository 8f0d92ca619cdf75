"""podman (through conmon) driving shim as its OCI runtime: `podman container
checkpoint` then `podman container restore` of a running counter.

podman runs with private storage (--root/--runroot under the test's tmp dir), the
cgroupfs manager, file events, no network, and the busybox rootfs as --rootfs (no
image pull: no registry here). `--runtime-flag root=...` gives shim the test's state
root and `--runtime-flag criu=...` the criu under test. The ulimits: this VM's
bounding set lacks CAP_SYS_RESOURCE, so podman's default RLIMIT_NOFILE/NPROC (1048576)
cannot be set by any runtime (runc fails the same way).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SHIM, BundleFactory, Shim, leaked_mounts, needs_busybox, needs_root
from tests.integration._criu import COUNTER

PODMAN = shutil.which("podman")
needs_podman = pytest.mark.skipif(PODMAN is None, reason="podman is not installed")
pytestmark = [
    needs_root,
    needs_busybox,
    needs_podman,
    pytest.mark.privileged,
    pytest.mark.timeout(180),
]
PODMAN_TIMEOUT = 60


class Podman:
    def __init__(self, base: Path, runroot: str, shim: Shim, criu: str) -> None:
        self.argv = [
            str(PODMAN),
            "--root", str(base / "root"),
            "--runroot", runroot,
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "file",
            "--runtime", SHIM,
            "--runtime-flag", f"root={shim.root}",
            "--runtime-flag", f"criu={criu}",
        ]  # fmt: skip

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.argv, *args],
            capture_output=True,
            text=True,
            timeout=PODMAN_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str) -> str:
        proc = self(*args)
        assert proc.returncode == 0, f"podman {' '.join(args)}: {proc.stderr}"
        return proc.stdout

    def numbers(self, name: str) -> list[int]:
        return [int(n) for n in self.ok("logs", name).split() if n.isdigit()]

    def wait_numbers(self, name: str, count: int, timeout: float = 20.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while len(found := self.numbers(name)) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"podman logs {name}: {found}, wanted {count} numbers")
            time.sleep(0.1)
        return found


def _wait_gone(runroot: str, timeout: float = 30.0) -> None:
    """Wait until no process names `runroot` in its command line (conmon, and the
    cleanup podman it runs)."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for entry in os.listdir("/proc"):
            try:
                if (
                    entry.isdigit()
                    and runroot.encode() in Path(f"/proc/{entry}/cmdline").read_bytes()
                ):
                    left.append(entry)
            except OSError:
                continue
        if not left:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"podman processes of {runroot} still running: {left}")
        time.sleep(0.05)


@pytest.fixture
def podman(tmp_path: Path, shim: Shim, criu: str) -> Iterator[Podman]:
    runroot = tempfile.mkdtemp(prefix="shim-pm-")  # podman refuses a runroot over 50 chars
    p = Podman(tmp_path / "podman", runroot, shim, criu)
    try:
        yield p
    finally:
        p("rm", "--all", "--force", "--time", "0")
        # conmon runs `podman ... container cleanup` when a container ends, on its own
        # time: until those are gone they can write the runroot again after we remove it
        _wait_gone(runroot)
        # podman's overlay storage driver keeps its home bind-mounted on itself after use
        # (with any runtime): take it down, or the test directory keeps a mount
        from shim.sys import unmount_detach

        while unmount_detach(str(tmp_path / "podman" / "root" / "overlay")):
            pass  # as many times as it was mounted
        assert leaked_mounts(tmp_path / "podman") == []
        assert leaked_mounts(Path(runroot)) == []
        shutil.rmtree(runroot)


def test_podman_checkpoint_and_restore_of_a_running_counter(
    podman: Podman, make_bundle: BundleFactory, shim: Shim
) -> None:
    rootfs = make_bundle(COUNTER) / "rootfs"
    name = "pc-counter"
    podman.ok(
        "run", "--detach", "--name", name, "--network", "none",
        "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
        "--pids-limit", "-1",  # no pids controller on a cgroup-v2-only view of this host
        "--rootfs", str(rootfs), *COUNTER,
    )  # fmt: skip
    cid = podman.ok("inspect", "--format", "{{.Id}}", name).strip()
    shim.ids.add(cid)
    assert shim.state(cid)["status"] == "running"  # podman drives shim under our root
    podman.wait_numbers(name, 3)

    podman.ok("container", "checkpoint", name)
    assert podman.ok("inspect", "--format", "{{.State.Status}}", name).strip() == "exited"
    before = podman.numbers(name)
    assert shim("state", cid).code != 0  # shim deleted it after the dump, as runc does

    podman.ok("container", "restore", name)
    assert podman.ok("inspect", "--format", "{{.State.Status}}", name).strip() == "running"
    after = podman.wait_numbers(name, len(before) + 3)
    assert after == list(range(1, len(after) + 1))  # not one number lost or repeated
    assert shim.state(cid)["status"] == "running"
