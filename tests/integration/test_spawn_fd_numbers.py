"""The helper's sealed copy is exec'd as /proc/self/fd/<n> in the child, after the file
actions that dup2 the protocol's fds into place: <n> must never be one of their targets.
A low fd freed while the runtime prepares (the cgroup prime thread closes its own) can
hand the memfd such a number; the child then execs a socket and fails with EACCES."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import TIMEOUT, BundleFactory, Shim, needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox]

# `shim run` in a fresh interpreter whose sealed helper copy sits at fd 3: the first
# target (the protocol's ctl1), as when fd 3 was free just as the memfd was made.
RACED_RUN = """
import os, sys
from shim.init import spawn

held = os.open("/dev/null", os.O_RDONLY)  # keeps 3 from the socket pairs
assert held == 3, held
real = spawn.sealed_helper

def at_three() -> int:
    mfd = real()
    os.dup2(mfd, held)
    os.close(mfd)
    return held

spawn.sealed_helper = at_three
sys.argv = ["shim", *sys.argv[1:]]
from shim.__main__ import main
sys.stdout.flush()
os._exit(main())
"""


def test_the_helper_copy_is_not_at_a_dup2_target(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle: Path = make_bundle(["sh", "-c", "echo ran"])
    shim.ids.add(cid)
    proc = subprocess.run(
        [sys.executable, "-c", RACED_RUN, *shim.argv("run", "--bundle", str(bundle), cid)[1:]],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
        stdin=subprocess.DEVNULL, close_fds=True,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, "ran\n"), proc
