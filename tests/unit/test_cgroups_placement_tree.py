"""Placement bookkeeping on a fake cgroup tree of plain directories and files.

The real kernel is exercised in tests/integration/test_cgroups_placement.py; here a
temp tree stands in for what the host cannot do on demand (a v2 freeze, odd states).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

from shim.cgroups import create, is_frozen, procs, remove
from shim.errors import CgroupError

if TYPE_CHECKING:
    from pathlib import Path


def test_create_returns_only_the_dirs_it_made_parents_first(tmp_path: Path) -> None:
    (tmp_path / "cpu" / "existing").mkdir(parents=True)
    paths = {
        "cpu": str(tmp_path / "cpu/existing/mid/c1"),
        "cpuacct": str(tmp_path / "cpu/existing/mid/c1"),  # co-mounted: same dir
        "": str(tmp_path / "unified/c1"),
    }
    created = create(paths)
    assert created == [
        str(tmp_path / "cpu/existing/mid"),
        str(tmp_path / "cpu/existing/mid/c1"),
        str(tmp_path / "unified"),
        str(tmp_path / "unified/c1"),
    ]
    assert create(paths) == []  # all there now: nothing is ours the second time
    remove(created)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["cpu", "existing"]


def test_remove_takes_nested_cgroups_of_the_container_too(tmp_path: Path) -> None:
    created = create({"": str(tmp_path / "c1")})
    (tmp_path / "c1" / "sub" / "subsub").mkdir(parents=True)
    remove(created)
    assert not (tmp_path / "c1").exists()


def test_remove_keeps_a_created_parent_that_holds_a_sibling(tmp_path: Path) -> None:
    first = create({"": str(tmp_path / "shared/c1")})
    second = create({"": str(tmp_path / "shared/c2")})
    assert second == [str(tmp_path / "shared/c2")]
    started = time.monotonic()
    remove(first)
    assert time.monotonic() - started < 1  # skipped, not retried until the deadline
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["c2", "shared"]
    remove(second)
    remove(first)  # now the parent is empty: a second try takes it
    assert list(tmp_path.iterdir()) == []


def test_remove_of_missing_dirs_is_fine(tmp_path: Path) -> None:
    remove([str(tmp_path / "gone"), str(tmp_path / "gone/deeper")])
    remove([])


def test_remove_failure_names_the_dir(tmp_path: Path) -> None:
    created = create({"": str(tmp_path / "c1")})
    (tmp_path / "c1" / "file").write_text("x")  # rmdir: ENOTEMPTY, not retried
    with pytest.raises(CgroupError, match=r"remove cgroup .*/c1: Directory not empty"):
        remove(created)


def test_failed_create_removes_what_it_made(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where a directory must go")
    paths = {"cpu": str(tmp_path / "cpu/c1"), "memory": str(tmp_path / "blocker/c1")}
    with pytest.raises(CgroupError, match=r"create cgroup .*/blocker/c1"):
        create(paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_is_frozen_reads_v1_freezer_and_v2_freeze(tmp_path: Path) -> None:
    v1, v2 = tmp_path / "freezer", tmp_path / "unified"
    v1.mkdir()
    v2.mkdir()
    paths = {"freezer": str(v1), "": str(v2)}
    assert not is_frozen(paths)  # no files: not frozen
    (v1 / "freezer.state").write_text("THAWED\n")
    (v2 / "cgroup.freeze").write_text("0\n")
    assert not is_frozen(paths)
    (v1 / "freezer.state").write_text("FROZEN\n")
    (v1 / "freezer.self_freezing").write_text("0\n")
    assert not is_frozen(paths)  # frozen by an ancestor only: runc says thawed
    (v1 / "freezer.self_freezing").write_text("1\n")
    assert is_frozen(paths)
    (v1 / "freezer.state").write_text("THAWED\n")
    (v2 / "cgroup.freeze").write_text("1\n")
    assert is_frozen(paths)
    assert not is_frozen({"freezer": str(tmp_path / "missing")})


def test_refuses_a_frozen_cgroup_and_makes_nothing(tmp_path: Path) -> None:
    (tmp_path / "unified" / "c1").mkdir(parents=True)
    (tmp_path / "unified" / "c1" / "cgroup.freeze").write_text("1\n")
    paths = {"": str(tmp_path / "unified/c1"), "memory": str(tmp_path / "memory/c1")}
    with pytest.raises(CgroupError, match=r"^container's cgroup unexpectedly frozen$"):
        create(paths)
    assert not (tmp_path / "memory").exists()


def test_unknown_freezer_state_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "freezer.state").write_text("MELTING\n")
    with pytest.raises(CgroupError, match="MELTING"):
        is_frozen({"freezer": str(tmp_path)})


def test_procs_collects_the_whole_subtree_from_devices(tmp_path: Path) -> None:
    devices, memory = tmp_path / "devices", tmp_path / "memory"
    (devices / "sub").mkdir(parents=True)
    memory.mkdir()
    (devices / "cgroup.procs").write_text("12\n7\n")
    (devices / "sub" / "cgroup.procs").write_text("99\n12\n")
    (memory / "cgroup.procs").write_text("5\n")
    assert procs({"memory": str(memory), "devices": str(devices)}) == [7, 12, 99]
    assert procs({"memory": str(memory)}) == [5]
    assert procs({"": str(tmp_path / "missing")}) == []
    assert procs({}) == []
