"""examples/supervise.py works as README documents it (asyncio and trio)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BundleFactory, needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged]
EXAMPLE = Path(__file__).parents[2] / "examples" / "supervise.py"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_example_runs_n_containers_and_prints_one_line_each(
    make_bundle: BundleFactory, tmp_path: Path, backend: str
) -> None:
    bundle = make_bundle(["sh", "-c", "echo hello; exit 7"])
    root = tmp_path / "root"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), str(bundle), "4", "--backend", backend, "--root", str(root)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 4
    assert {(r["exit_status"], r["stdout"]) for r in lines} == {(7, "hello\n")}
    assert len({r["id"] for r in lines}) == 4
    assert list(root.iterdir()) == []
