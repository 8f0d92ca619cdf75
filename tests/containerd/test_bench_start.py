"""The bench hook for `start`: `python -m bench.shim_start` measures both shims and cleans up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .harness import containerd_missing

pytestmark = [pytest.mark.containerd, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def test_bench_shim_start_times_ours_and_runc_v2() -> None:
    reason = containerd_missing()
    if reason:
        pytest.skip(reason)
    result = subprocess.run(
        [sys.executable, "-m", "bench.shim_start", "--rounds", "3"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    figures = json.loads(result.stdout)
    assert figures["rounds"] == 3
    for key in ("pyshim_ms", "runc_v2_ms", "python_floor_ms", "ratio"):
        assert figures[key] > 0, key
    assert _bench_shims() == [], "shim daemons left running"


def _bench_shims() -> list[int]:
    """Shim daemons serving the bench's private address (other tests' shims are not ours)."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if b"containerd-shim" in cmdline and b"bench-shim-start-" in cmdline:
            pids.append(int(entry))
    return pids
