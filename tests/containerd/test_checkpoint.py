"""Checkpoint and restore through containerd: `ctr containers checkpoint --task` runs
our Checkpoint RPC (criu, in-process), `ctr containers restore --live` our Create with a
checkpoint and the Start that restores it. A counter goes on from where it stopped."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._criu import find_criu

from .harness import BUSYBOX_IMAGE, TIMEOUT, Containerd, containerd_missing

pytestmark = [pytest.mark.containerd, pytest.mark.privileged]
RUNTIME = "io.containerd.pyshim.v1"
COUNTER = "i=0; while :; do i=$((i+1)); echo $i > /tmp/n; sleep 0.2; done"


@pytest.fixture(scope="module")
def criu_containerd() -> Iterator[Containerd]:
    """A containerd whose shims find a criu that works on this kernel."""
    reason = containerd_missing()
    if reason:
        pytest.skip(reason)
    path, why = find_criu()
    if not path:
        pytest.skip(f"criu cannot be had on this machine: {why}")
    with (
        tempfile.TemporaryDirectory(prefix="ctd-") as tmp,
        Containerd.started(Path(tmp), env={"SHIM_CRIU": path}) as ctd,
    ):
        yield ctd


def ctr(ctd: Containerd, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = ctd.ctr(*args, check=False)
    if check:
        assert proc.returncode == 0, proc
    return proc


def count(ctd: Containerd, cid: str) -> int:
    out = ctr(
        ctd, "tasks", "exec", "--exec-id", f"read-{time.monotonic_ns()}", cid, "cat", "/tmp/n"
    )
    return int(out.stdout)


def test_checkpoint_then_restore_goes_on_counting(criu_containerd: Containerd) -> None:
    ctd, cid = criu_containerd, "counter"
    try:
        ctr(ctd, "run", "-d", "--runtime", RUNTIME, BUSYBOX_IMAGE, cid, "sh", "-c", COUNTER)
        time.sleep(1.0)
        ctr(ctd, "containers", "checkpoint", "--task", "--rw", cid, "ckpt:counter")
        at_checkpoint = count(ctd, cid)  # it ran on (containerd does not pass exit)
        ctr(ctd, "tasks", "kill", "-s", "KILL", cid)
        deadline = time.monotonic() + TIMEOUT
        while (
            ctr(ctd, "tasks", "delete", cid, check=False).returncode and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        ctr(ctd, "containers", "delete", cid)
        ctr(ctd, "containers", "restore", "--live", "--rw", cid, "ckpt:counter")
        first = count(ctd, cid)
        assert 0 < first <= at_checkpoint + 2  # from the image's number, not from zero
        time.sleep(0.6)
        assert count(ctd, cid) > first  # and counting
        tasks = ctr(ctd, "tasks", "ls").stdout
        assert cid in tasks
        assert "RUNNING" in tasks
    finally:
        ctr(ctd, "tasks", "kill", "-s", "KILL", cid, check=False)
        time.sleep(0.3)
        ctr(ctd, "tasks", "delete", "-f", cid, check=False)
        ctr(ctd, "containers", "delete", cid, check=False)
        ctr(ctd, "images", "rm", "ckpt:counter", check=False)


def test_task_checkpoint_makes_a_checkpoint_image_and_the_task_runs_on(
    criu_containerd: Containerd,
) -> None:
    """`ctr tasks checkpoint`: our Checkpoint RPC dumps into the directory containerd
    gives, and containerd packs it as an image. (ctr sends its --exit and --image-path
    only to runc runtimes: the task is left running.)"""
    ctd, cid = criu_containerd, "dumped"
    try:
        ctr(ctd, "run", "-d", "--runtime", RUNTIME, BUSYBOX_IMAGE, cid, "sh", "-c", COUNTER)
        time.sleep(0.5)
        before = set(ctr(ctd, "images", "ls", "-q").stdout.split())
        ctr(ctd, "tasks", "checkpoint", cid)
        made = set(ctr(ctd, "images", "ls", "-q").stdout.split()) - before
        assert len(made) == 1, made
        assert "checkpoint" in made.pop()
        first = count(ctd, cid)
        time.sleep(0.5)
        assert count(ctd, cid) > first
    finally:
        ctr(ctd, "tasks", "kill", "-s", "KILL", cid, check=False)
        time.sleep(0.3)
        ctr(ctd, "tasks", "delete", "-f", cid, check=False)
        ctr(ctd, "containers", "delete", cid, check=False)
        for image in ctr(ctd, "images", "ls", "-q", check=False).stdout.split():
            if "checkpoint" in image:
                ctr(ctd, "images", "rm", image, check=False)
