"""A test build of the init helper: csrc/ compiled with -DSHIM_TEST_HOOKS, whose fault
points (csrc/testhooks.c) SHIM_INIT_TEST asks for; the runtime runs it when
SHIM_INIT_HELPER names it, still from a sealed memfd. The packaged helper has no hooks.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CSRC = Path(__file__).resolve().parents[2] / "csrc"
# setup.py's flags (static, stripped), plus the hooks.
FLAGS = ["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wformat=2"]


def build_helper(out: Path, *defines: str) -> str:
    sources = sorted(str(p) for p in CSRC.glob("*.c"))
    res = subprocess.run(
        ["gcc", *FLAGS, *defines, "-static", "-s", "-o", str(out), *sources],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr.decode()
    return str(out)


@pytest.fixture(scope="module")
def hooks_helper(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of a helper built with the test hooks."""
    return build_helper(tmp_path_factory.mktemp("helper") / "shim-init-hooks", "-DSHIM_TEST_HOOKS")


@pytest.fixture
def fault(hooks_helper: str, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Every shim this test runs uses the hooks build; set SHIM_INIT_TEST to ask for a
    fault point (monkeypatch.setenv, undone after the test)."""
    monkeypatch.setenv("SHIM_INIT_HELPER", hooks_helper)
    return monkeypatch
