"""Cgroup placement on this host's real hierarchies.

Everything happens below `shim-test-<random>` cgroups that the fixtures make in every
hierarchy and tear down again (thawing, retrying), even after a failure; teardown then
asserts that the test itself left nothing behind. Host mounts are never touched.
"""

from __future__ import annotations

import errno
import os
import secrets
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from shim.cgroups import (
    V1_SUBSYSTEMS,
    Hierarchy,
    add_process,
    create,
    is_frozen,
    parse_proc_cgroup,
    procs,
    read_hierarchy,
    read_own_cgroups,
    remove,
    resolve_paths,
)
from shim.errors import CgroupError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

pytestmark = [
    pytest.mark.privileged,
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create cgroups"),
]

TEARDOWN_TIMEOUT = 5.0  # seconds for a cgroup to empty after its processes died


class Parent:
    """A `shim-test-<random>` cgroup of the test's own in every hierarchy."""

    def __init__(self, hierarchy: Hierarchy, relative: bool) -> None:
        self.hierarchy = hierarchy
        self.own = read_own_cgroups()
        self.name = f"shim-test-{secrets.token_hex(4)}"
        self.base = self.name if relative else f"/{self.name}"
        self.paths = resolve_paths(hierarchy, self.own, self.base, "unused")

    def child(self, rel: str) -> dict[str, str]:
        return resolve_paths(self.hierarchy, self.own, f"{self.base}/{rel}", "unused")

    def make(self) -> None:
        for directory in _unique(self.paths.values()):
            os.mkdir(directory)
            if directory == self.paths.get("cpuset"):  # else no task may join below
                for name in ("cpuset.cpus", "cpuset.mems"):
                    value = Path(os.path.dirname(directory), name).read_text()
                    Path(directory, name).write_text(value)

    def destroy(self) -> list[str]:
        """Remove the parents and anything below them; return what was below."""
        strays: list[str] = []
        for directory in _unique(self.paths.values()):
            strays += _force_remove(directory)
        return strays


@pytest.fixture
def hierarchy() -> Hierarchy:
    return read_hierarchy()


def _parent_fixture(hierarchy: Hierarchy, relative: bool) -> Iterator[Parent]:
    parent = Parent(hierarchy, relative)
    try:
        parent.make()
        yield parent
    finally:
        strays = parent.destroy()
        left = [d for d in parent.paths.values() if os.path.lexists(d)]
        assert not left, f"test parent cgroups not removed: {left}"
        assert not strays, f"the test left cgroups behind: {strays}"


@pytest.fixture
def parent(hierarchy: Hierarchy) -> Iterator[Parent]:
    """Absolute `/shim-test-<random>` in every hierarchy."""
    yield from _parent_fixture(hierarchy, relative=False)


@pytest.fixture
def relative_parent(hierarchy: Hierarchy) -> Iterator[Parent]:
    """`shim-test-<random>` below this process's own cgroup in every hierarchy."""
    yield from _parent_fixture(hierarchy, relative=True)


@pytest.fixture
def spawn(
    parent: Parent, relative_parent: Parent
) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `sleep 30` children; killed and reaped before the parents go."""
    children: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        child = subprocess.Popen(["sleep", "30"])
        children.append(child)
        return child

    yield start
    for top in (*parent.paths.values(), *relative_parent.paths.values()):
        _thaw(top)  # a frozen task cannot die
    for child in children:
        child.kill()
    for child in children:
        child.wait(timeout=10)


def test_create_makes_the_container_cgroup_in_every_hierarchy(
    parent: Parent, hierarchy: Hierarchy
) -> None:
    paths = parent.child("c1")
    expected = {name for name in V1_SUBSYSTEMS if name in hierarchy.v1}
    if hierarchy.unified is not None:
        expected.add("")
    assert set(paths) == expected
    created = create(paths)
    try:
        assert sorted(created) == sorted(set(paths.values()))
        assert all(os.path.isdir(d) for d in paths.values())
    finally:
        remove(created)
    assert not any(os.path.lexists(d) for d in paths.values())


def test_remove_deletes_exactly_what_create_made(parent: Parent) -> None:
    paths = parent.child("mid/c1")
    created = create(paths)
    try:
        mids = {os.path.dirname(d) for d in paths.values()}
        assert set(created) == mids | set(paths.values())
        key = "devices" if "devices" in paths else ""  # v1/hybrid, or a v2-only host
        assert created.index(parent.child("mid")[key]) < created.index(paths[key])
    finally:
        remove(created)
    assert not any(os.path.lexists(d) for d in created)
    assert all(os.path.isdir(d) for d in parent.paths.values())


def test_new_cpuset_cgroups_inherit_cpus_and_mems(parent: Parent, hierarchy: Hierarchy) -> None:
    if "cpuset" not in hierarchy.v1:
        pytest.skip("no cgroup v1 cpuset hierarchy on this host")
    paths = parent.child("mid/c1")
    created = create(paths)
    try:
        for name in ("cpuset.cpus", "cpuset.mems"):
            want = Path(parent.paths["cpuset"], name).read_text().strip()
            assert want
            for directory in (os.path.dirname(paths["cpuset"]), paths["cpuset"]):
                assert Path(directory, name).read_text().strip() == want
    finally:
        remove(created)


def test_added_process_lands_in_every_hierarchy(
    parent: Parent, hierarchy: Hierarchy, spawn: Callable[[], subprocess.Popen[bytes]]
) -> None:
    paths = parent.child("c1")
    created = create(paths)
    try:
        child = spawn()
        add_process(paths, child.pid)
        seen = parse_proc_cgroup(Path(f"/proc/{child.pid}/cgroup").read_text())
        for key, directory in paths.items():
            assert seen[key] == _cgroup_of(hierarchy, key, directory), key
        assert procs(paths) == [child.pid]
        assert not is_frozen(paths)
        child.kill()
        child.wait(timeout=10)
    finally:
        remove(created)  # the cgroup may still be busy a moment after the reap
    assert not any(os.path.lexists(d) for d in paths.values())


def test_relative_path_goes_below_the_own_cgroup(
    relative_parent: Parent, hierarchy: Hierarchy, spawn: Callable[[], subprocess.Popen[bytes]]
) -> None:
    paths = relative_parent.child("c1")
    own = read_own_cgroups()
    created = create(paths)
    try:
        child = spawn()
        add_process(paths, child.pid)
        seen = parse_proc_cgroup(Path(f"/proc/{child.pid}/cgroup").read_text())
        for key in paths.keys() - {""}:  # hybrid unified: below its mount root, as runc
            assert seen[key] == f"{own[key].rstrip('/')}/{relative_parent.name}/c1", key
        child.kill()
        child.wait(timeout=10)
    finally:
        remove(created)


def test_remove_takes_cgroups_the_container_made_inside(
    parent: Parent, hierarchy: Hierarchy
) -> None:
    paths = parent.child("c1")
    created = create(paths)
    try:
        for directory in _unique(paths.values()):
            os.makedirs(os.path.join(directory, "nested", "deeper"))
    finally:
        remove(created)
    assert not any(os.path.lexists(d) for d in paths.values())


def test_created_parent_still_holding_a_sibling_stays(parent: Parent) -> None:
    first, second = parent.child("shared/c1"), parent.child("shared/c2")
    made_first = create(first)
    try:
        made_second = create(second)
        assert sorted(made_second) == sorted(set(second.values()))
        started = time.monotonic()
        remove(made_first)
        assert time.monotonic() - started < 1
        assert all(os.path.isdir(d) for d in second.values())
        remove(made_second)
    finally:
        remove(made_first)  # the shared parents are empty now: this time they go
    assert not any(os.path.lexists(d) for d in made_first)


def test_frozen_preexisting_cgroup_is_refused(parent: Parent, hierarchy: Hierarchy) -> None:
    if "freezer" not in hierarchy.v1:
        pytest.skip("no cgroup v1 freezer hierarchy on this host")
    paths = parent.child("c1")
    freezer = Path(paths["freezer"])
    freezer.mkdir()
    try:
        (freezer / "freezer.state").write_text("FROZEN")
        _wait_for(lambda: (freezer / "freezer.state").read_text().strip() == "FROZEN")
        assert is_frozen(paths)
        with pytest.raises(CgroupError, match=r"^container's cgroup unexpectedly frozen$"):
            create(paths)
        assert [d for d in paths.values() if os.path.lexists(d)] == [str(freezer)]
    finally:
        (freezer / "freezer.state").write_text("THAWED")
        freezer.rmdir()


def _cgroup_of(hierarchy: Hierarchy, key: str, directory: str) -> str:
    """What /proc/<pid>/cgroup shows for a process in `directory`."""
    mount = hierarchy.unified if key == "" else hierarchy.v1[key]
    assert mount is not None
    return mount.root.rstrip("/") + directory[len(mount.mountpoint) :] or "/"


def _force_remove(top: str) -> list[str]:
    _thaw(top)
    below = [path for path, _, _ in os.walk(top) if path != top]
    for path in [*reversed(below), top]:
        if os.path.isdir(path):
            _rmdir_when_empty(path)
    return below


def _thaw(top: str) -> None:
    for path, _, files in os.walk(top):
        state = Path(path, "freezer.state")
        if "freezer.state" in files and state.read_text().strip() != "THAWED":
            state.write_text("THAWED")


def _rmdir_when_empty(path: str) -> None:
    deadline = time.monotonic() + TEARDOWN_TIMEOUT
    while True:
        try:
            os.rmdir(path)
            return
        except OSError as err:
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _unique(dirs: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(dirs))
