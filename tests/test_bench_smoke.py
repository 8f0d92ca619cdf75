"""`python -m bench --quick` end to end: numbers come out for shim and runc, nothing is left.

It asserts that figures were measured, never how fast anything was: timing on a
shared machine says nothing about correctness. crun joins when it is installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import needs_busybox, needs_root
from tests.integration._kernel_files import is_v2_only

pytestmark = [needs_root, needs_busybox, pytest.mark.slow, pytest.mark.privileged]

REPO = Path(__file__).resolve().parents[1]
PER_RUNTIME = (
    "run", "create", "state", "start", "delete", "cycle", "create_rss", "init_rss",
    "version", "stream", "churn1_rate", "churn1_cpu", "churn8_rate", "churn8_cpu",
    "kill", "list",
)  # fmt: skip


def _cgroups_named(prefix: str) -> list[str]:
    return [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/**/{prefix}*")]


@pytest.mark.timeout(300)
def test_quick_bench_reports_numbers_for_shim_and_runc(tmp_path: Path) -> None:
    if shutil.which("runc") is None:
        pytest.skip("needs runc (apt-get install -y runc)")
    # crun on a cgroup-v2-only host raises RLIMIT_MEMLOCK for its BPF device filter, which
    # this VM's bounding set (no CAP_SYS_RESOURCE) refuses: it cannot run there at all.
    crun = shutil.which("crun") is not None and not is_v2_only()
    runtimes = ["shim", "runc", *(["crun"] if crun else [])]
    out = tmp_path / "samples.json"
    bench = subprocess.Popen(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out), *runtimes],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        stdout, stderr = bench.communicate(timeout=240)
    finally:
        bench.kill()  # a no-op once it has exited; SIGKILL'd, it could not clean up anyway
    assert bench.returncode == 0, stderr.decode(errors="replace")[-3000:]

    results: dict[str, Any] = json.loads(out.read_bytes())
    figures = {fig["key"]: fig for fig in results["figures"]}
    for key in PER_RUNTIME:
        for runtime in ("shim", "runc"):
            samples = figures[key]["samples"].get(runtime)
            assert samples, f"{key}: no samples for {runtime}"
            assert all(isinstance(v, int | float) and v > 0 for v in samples), (key, samples)
    assert figures["exec"]["samples"]["runc"]
    for key in ("checkpoint", "restore"):  # numbers with a working criu, else n/a and why
        for runtime in ("shim", "runc"):
            assert figures[key]["samples"].get(runtime) or figures[key]["na"][runtime], key
    assert figures["floor"]["samples"]["unshare"]
    assert figures["floor"]["samples"]["spawn"]
    assert results["library"]["samples"]
    assert results["library"]["cycle_ms"]
    split = results["startup"]
    assert all(split["lean"].values())
    assert set(split["imports"]) == {
        "--version", "state", "kill", "list", "start", "delete", "create", "run", "exec"
    }  # fmt: skip
    assert all(split["imports"].values())
    table = stdout.decode()
    assert "| shim " in table
    assert "| runc " in table
    assert "python -m bench.containerd_bench" in table
    assert "**where shim's time goes**" in table
    assert "**issue 14's targets**" in table
    # Container ids are bench-<pid>-...: the bench re-executes itself in place (unshare
    # without --fork), so its pid is ours to look for.
    assert _cgroups_named(f"bench-{bench.pid}-") == []
