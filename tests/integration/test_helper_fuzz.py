"""The helper's packet and TLV parser under property-based fuzz (issue 16), against real
helpers, in a sandbox: see tests/integration/_tlv_fuzz.py for what is sent and checked.
A bounded budget for CI: 150 packets, derandomized (the same ones every run), ~10 s.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs_root

pytestmark = [needs_root, pytest.mark.privileged, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = 150
SANDBOX = ["unshare", "--mount", "--propagation", "private", "--uts", "--ipc", "--net",
           "--pid", "--fork"]  # fmt: skip


def test_malformed_boot_packets_never_crash_a_helper_or_leave_anything(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"  # a tmpfs in the sandbox; empty here
    scratch.mkdir()
    worker = [sys.executable, "-m", "tests.integration._tlv_fuzz", str(EXAMPLES), str(scratch)]
    res = subprocess.run(
        [*SANDBOX, *worker], cwd=REPO, capture_output=True, text=True, timeout=200, check=False
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"tlv fuzz: {EXAMPLES} packets" in res.stdout, res.stdout
    assert list(scratch.iterdir()) == []
