"""prime_cgroup_migration: the self-move that starts the kernel's grace period early."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shim.cgroups import prime
from tests.conftest import needs_root

HYBRID = "12:pids:/system.slice/x.service\n3:cpu,cpuacct:/a\n1:name=systemd:/s\n0::/u\n"


def _tree(root: Path, *dirs: str) -> None:
    for d in dirs:
        (root / d).mkdir(parents=True)
        (root / d / "cgroup.procs").write_text("")


def test_the_first_mounted_hierarchy_names_our_cgroup(tmp_path: Path) -> None:
    _tree(tmp_path, "cpu,cpuacct/a", "unified/u")
    found = prime.own_procs_file(HYBRID, str(tmp_path))
    assert found == f"{tmp_path}/cpu,cpuacct/a/cgroup.procs"  # pids is not mounted here


def test_a_comounted_controller_is_found_by_either_name(tmp_path: Path) -> None:
    _tree(tmp_path, "cpuacct/a")  # mounted under one name, the other a symlink
    assert prime.own_procs_file(HYBRID, str(tmp_path)) == f"{tmp_path}/cpuacct/a/cgroup.procs"


def test_named_hierarchies_and_the_unified_one(tmp_path: Path) -> None:
    _tree(tmp_path, "systemd/s")
    assert prime.own_procs_file(HYBRID, str(tmp_path)) == f"{tmp_path}/systemd/s/cgroup.procs"
    _tree(tmp_path / "v2", "u")  # a cgroup2-only host: the unified tree is the root
    assert prime.own_procs_file("0::/u\n", str(tmp_path / "v2")) == f"{tmp_path}/v2/u/cgroup.procs"


def test_nothing_mounted_or_garbage_gives_none(tmp_path: Path) -> None:
    assert prime.own_procs_file(HYBRID, str(tmp_path)) is None
    assert prime.own_procs_file("garbage\n::\n7:x:relative\n", str(tmp_path)) is None


@needs_root
def test_the_self_move_changes_no_membership() -> None:
    """It writes only our own cgroup.procs, with ourselves: /proc/self/cgroup (every
    hierarchy) is the same after, and the file it writes is one the kernel has."""
    procs = prime.own_procs_file(Path("/proc/self/cgroup").read_text())
    if procs is None:
        pytest.skip("no cgroup hierarchy mounted under /sys/fs/cgroup")
    assert str(os.getpid()) in Path(procs).read_text().split()
    before = Path("/proc/self/cgroup").read_text()
    assert prime._move_self()  # what the thread runs, here where its end is known
    prime.prime_cgroup_migration()
    time.sleep(0.1)
    assert Path("/proc/self/cgroup").read_text() == before
    assert str(os.getpid()) in Path(procs).read_text().split()
