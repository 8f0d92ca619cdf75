"""The host-integrity guard (tests/host_guard.py) sees each kind of damage it watches for.

The damage is done where it cannot hurt: in a private mount namespace (`unshare -m
--propagation private`), where the guard's view of "/" mounts, /dev/null and /etc is
changed by mounts alone; the canary under "/" is really removed (it is the guard's own).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TIMEOUT, needs_root
from tests.host_guard import CHANGED_EXIT

pytestmark = [needs_root, pytest.mark.privileged]

REPO = Path(__file__).resolve().parents[2]


def _guarded(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`python -m tests.host_guard -- sh -c SCRIPT` in a private mount namespace."""
    return subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, "-m", "tests.host_guard",
         "--", "sh", "-c", script],
        cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT, check=False,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "T": str(tmp_path)},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("script", "seen"),
    [
        ("mount --rbind / /", "mount table entries for / changed"),
        ("touch $T/null && mount --bind $T/null /dev/null", "/dev/null: was char 1:3"),
        ("mknod $T/full c 1 3 && mount --bind $T/full /dev/full", "/dev/full: was char 1:7"),
        ("mkdir $T/etc && mount --bind $T/etc /etc", "/etc/passwd: was present, now missing"),
        ("rm /.shim-host-guard-$PPID-*", "/.shim-host-guard-"),
    ],
    ids=["stacked-root", "dev-null-replaced", "dev-full-replaced", "etc-gone", "canary-gone"],
)
def test_the_guard_fails_loudly_on_each_change(script: str, seen: str, tmp_path: Path) -> None:
    res = _guarded(script, tmp_path)
    assert res.returncode == CHANGED_EXIT, res
    assert "HOST INTEGRITY" in res.stderr, res
    assert seen in res.stderr, res


def test_the_guard_passes_the_status_through_and_cleans_up(tmp_path: Path) -> None:
    res = _guarded("ls /.shim-host-guard-$PPID-* && exit 7", tmp_path)
    assert res.returncode == 7, res
    assert "HOST INTEGRITY" not in res.stderr
    canary = res.stdout.strip()
    assert canary.startswith("/.shim-host-guard-"), res
    assert not Path(canary).exists()


def test_the_test_suite_stops_when_a_module_changes_the_host(tmp_path: Path) -> None:
    """conftest's module fixture, loaded as a plugin into a pytest run whose only test
    stacks "/" in that run's own (private) mount namespace: the run stops with 3."""
    test = tmp_path / "test_damage.py"
    test.write_text(
        "import subprocess\n\n"
        "def test_stacks_root() -> None:\n"
        "    subprocess.run(['mount', '--rbind', '/', '/'], check=True)\n"
    )
    res = subprocess.run(
        ["unshare", "-m", "--propagation", "private", sys.executable, "-m", "pytest",
         "-p", "no:cacheprovider", "-p", "tests.conftest", "-q", str(test)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert res.returncode == 3, res
    assert "HOST INTEGRITY: test module test_damage changed the host" in res.stdout + res.stderr
