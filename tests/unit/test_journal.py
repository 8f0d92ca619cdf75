"""The create journal (issue 16 #5): `delete --force` SIGKILLs the pids it lists and
removes the cgroups it names, so it is written 0600 whatever the umask, never through a
symlink, and read back only from a plain file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from shim.runtime.cleanup import JOURNAL, Journal


@pytest.fixture
def umask_0() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_the_journal_is_0600_under_umask_0(tmp_path: Path, umask_0: None) -> None:
    Journal(str(tmp_path)).record(cgroup_created=["/sys/fs/cgroup/pids/x"])
    mode = stat.S_IMODE(os.lstat(tmp_path / JOURNAL).st_mode)
    assert mode == 0o600, oct(mode)


def test_the_journal_round_trips(tmp_path: Path) -> None:
    Journal(str(tmp_path)).record(
        cgroup_created=["/a/b", "/a/b/c"], cgroup_paths={"pids": "/a/b/c", "": "/u/c"}
    )
    back = Journal(str(tmp_path)).load()
    assert back.cgroup_created == ["/a/b", "/a/b/c"]
    assert back.cgroup_paths == {"pids": "/a/b/c", "": "/u/c"}


@pytest.mark.parametrize("name", [JOURNAL, f"{JOURNAL}.tmp"])
def test_a_planted_symlink_is_never_written_through(tmp_path: Path, name: str) -> None:
    victim = tmp_path / "victim"
    victim.write_text("host file\n")
    state = tmp_path / "state"
    state.mkdir()
    (state / name).symlink_to(victim)
    Journal(str(state)).record(cgroup_created=["/sys/fs/cgroup/pids/x"])
    assert victim.read_text() == "host file\n"
    assert stat.S_ISREG(os.lstat(state / JOURNAL).st_mode)


def test_a_symlinked_journal_is_not_read(tmp_path: Path) -> None:
    """A journal.json that is a link (to a file listing someone else's pids and cgroups)
    gives nothing to kill or remove."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Journal(str(elsewhere)).record(cgroup_created=["/sys/fs/cgroup/pids/someone"])
    state = tmp_path / "state"
    state.mkdir()
    (state / JOURNAL).symlink_to(elsewhere / JOURNAL)
    loaded = Journal(str(state)).load()
    assert loaded.cgroup_created == []
    assert loaded.pids == []
