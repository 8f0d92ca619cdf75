"""Issue 16, findings 4 and 5: the journal a create keeps for `delete --force`.

4. create_cgroups() ran before the journal named what it made: a `create` SIGKILLed in
   between left cgroup directories that `delete --force` did not know, and a later create
   of the same id took them for someone else's and never removed them. The planned
   directories are now journalled before the first mkdir. The kill lands exactly there:
   the runtime runs in a child Python whose os.mkdir SIGKILLs the process right after
   the Nth real cgroup mkdir (fault injection; the mkdir itself is the real one).
5. journal.json was written with the caller's umask (0666 under umask 0).

Judged from the host: the cgroup directories of every hierarchy, the state dir, the mode
a prestart hook sees the journal with while the create is running.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    TIMEOUT,
    BundleFactory,
    Shim,
    leaked_cgroups,
    needs_busybox,
    needs_root,
)

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(120)]

# `shim` in a child Python whose os.mkdir SIGKILLs it after the Nth cgroup directory.
KILLED_AFTER_MKDIR = """
import os, signal, sys
real, made, n = os.mkdir, [], int(sys.argv.pop(1))
def mkdir(path, mode=0o777, *, dir_fd=None):
    real(path, mode, dir_fd=dir_fd)
    if str(path).startswith("/sys/fs/cgroup/"):
        made.append(path)
        if len(made) == n:
            os.kill(os.getpid(), signal.SIGKILL)
os.mkdir = mkdir
from shim.__main__ import main
sys.exit(main())
"""


def _create_killed_after_mkdir(shim: Shim, n: int, bundle: Path, cid: str) -> int:
    shim.ids.add(cid)
    argv = [sys.executable, "-c", KILLED_AFTER_MKDIR, str(n), *shim.argv("create", "--bundle",
            str(bundle), cid)[1:]]  # fmt: skip
    res = subprocess.run(argv, capture_output=True, timeout=TIMEOUT, check=False)
    return res.returncode


def _cgroup_dirs_made(shim: Shim, make_bundle: BundleFactory, cid: str) -> int:
    """How many cgroup directories a create of this bundle makes here (all hierarchies)."""
    shim.ok("create", "--bundle", str(make_bundle(["true"], name="probe")), cid)
    made = len(leaked_cgroups(cid))
    shim.ok("delete", "--force", cid)
    assert leaked_cgroups(cid) == []
    return made


def test_a_create_killed_between_cgroup_mkdirs_leaves_nothing_after_delete_force(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    total = _cgroup_dirs_made(shim, make_bundle, f"{cid}-probe")
    if total < 2:  # a cgroup-v2-only host (scripts/v2-only.sh): one mkdir, no window
        pytest.skip("a single cgroup hierarchy here: nothing to be killed between mkdirs")
    bundle = make_bundle(["true"])
    for n in range(1, total + 1):
        name = f"{cid}-{n}"
        code = _create_killed_after_mkdir(shim, n, bundle, name)
        assert code == -signal.SIGKILL, (n, code)
        assert leaked_cgroups(name), f"kill after mkdir {n}: nothing was made"
        shim.ok("delete", "--force", name)
        assert leaked_cgroups(name) == [], f"kill after mkdir {n} of {total}: left behind"
        assert not (shim.root / name).exists()


def test_a_later_create_of_the_same_id_leaves_nothing_either(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["true"])
    assert _create_killed_after_mkdir(shim, 1, bundle, cid) == -signal.SIGKILL
    shim.ok("delete", "--force", cid)
    shim.ok("create", "--bundle", str(bundle), cid)
    shim.ok("delete", cid)
    assert leaked_cgroups(cid) == [], "the second create adopted the first one's cgroups"


def test_the_journal_is_0600_while_create_runs_under_umask_0(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    seen = tmp_path / "journal-mode"
    journal = shim.root / cid / "journal.json"
    hook = tmp_path / "stat.sh"
    hook.write_text(f"#!/bin/sh\nstat -c %a {journal} > {seen}\n")
    hook.chmod(0o755)

    def edit(c: dict[str, Any]) -> None:
        c["hooks"] = {"prestart": [{"path": str(hook)}]}

    bundle = make_bundle(["true"], edit=edit)
    shim.ids.add(cid)
    with tempfile.TemporaryFile() as err:  # a file: the created init keeps its stdio open
        res = subprocess.run(
            shim.argv("create", "--bundle", str(bundle), cid),
            preexec_fn=lambda: os.umask(0),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            timeout=TIMEOUT,
            check=False,
        )
        err.seek(0)
        assert res.returncode == 0, err.read()
    assert seen.read_text().strip() == "600"
    assert not journal.exists(), "a finished create keeps no journal"
    assert stat.S_IMODE(os.stat(shim.root / cid / "state.json").st_mode) == 0o600
