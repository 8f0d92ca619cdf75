"""Kubernetes' path: containerd's CRI plugin runs a pod through our shim (RunPodSandbox,
CreateContainer, StartContainer, ExecSync, ContainerStats, UpdateContainerResources,
StopContainer, RemovePodSandbox), the pod's containers in one shim process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cri_api.v1 import api_pb2

from .cri import Cri
from .harness import BUSYBOX_IMAGE, TIMEOUT, Containerd

pytestmark = [pytest.mark.containerd, pytest.mark.privileged]


def _shim_daemons(ctd: Containerd) -> list[int]:
    out = []
    for pid in ctd.shim_pids():
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"pyshim" in argv[1] and not {b"start", b"delete"} & set(argv[2:]):
            out.append(pid)
    return out


def _memory_limit_files(container_id: str) -> list[Path]:
    return [
        *Path("/sys/fs/cgroup/memory").glob(f"**/{container_id}/memory.limit_in_bytes"),
        *Path("/sys/fs/cgroup").glob(f"**/{container_id}/memory.max"),
    ]


def test_a_pod_runs_through_our_shim(containerd: Containerd) -> None:
    cri = Cri(containerd.address)
    pod_id = ""
    try:
        pod = cri.pod_config("cri-pod", str(containerd.dir / "pod-logs"))
        pod_id = cri.run_pod(pod, "pyshim")
        cid = cri.create_container(pod_id, pod, "work", BUSYBOX_IMAGE, ["sleep", "1000"])
        cri.start_container(cid)
        assert cri.container_status(cid).state == api_pb2.CONTAINER_RUNNING
        assert len(_shim_daemons(containerd)) == 1  # the pause container's shim serves both

        reply = cri.exec_sync(cid, ["sh", "-c", "echo out; echo err >&2; exit 3"])
        assert (reply.stdout, reply.stderr, reply.exit_code) == (b"out\n", b"err\n", 3)

        stats = cri.container_stats(cid)
        assert stats.attributes.id == cid
        assert stats.memory.working_set_bytes.value > 0
        assert stats.cpu.usage_core_nano_seconds.value > 0

        cri.update_resources(cid, 64 << 20)
        (limit,) = _memory_limit_files(cid)
        assert int(limit.read_text()) == 64 << 20  # the kernel's file, not our state

        started = time.monotonic()
        cri.stop_container(cid, timeout=2)  # sleep ignores nothing: TERM ends it at once
        assert time.monotonic() - started < TIMEOUT
        status = cri.container_status(cid)
        assert status.state == api_pb2.CONTAINER_EXITED
        assert status.exit_code == 143
        cri.remove_container(cid)
    finally:
        if pod_id:
            cri.remove_pod(pod_id)
        cri.close()
    deadline = time.monotonic() + TIMEOUT
    while _shim_daemons(containerd) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _shim_daemons(containerd) == []
