"""The root filesystem as runc 1.1.5 builds it, side by side on the same bundle: --no-pivot
hides the host's procfs, read-only mounts with mounts below them."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import BundleFactory, Result, Shim, needs_busybox, needs_root
from tests.integration._runc_compare import needs_runc

pytestmark = [needs_root, needs_busybox, needs_runc, pytest.mark.privileged]

# Docker's default capabilities: with CAP_SETUID/CAP_SETGID, busybox `unshare -r` may
# write the maps of its new user namespace.
DOCKER_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]  # fmt: skip


def run_both(shim: Shim, runc: Shim, cid: str, rid: str, *args: str) -> tuple[Result, Result]:
    """`run ARGS` with shim, then runc (its own id and --root)."""
    return shim("run", *args, cid), runc("run", *args, rid)


def _docker_caps(c: dict[str, Any]) -> None:
    for kind in ("bounding", "effective", "permitted"):
        c["process"]["capabilities"][kind] = list(DOCKER_CAPS)


def test_no_pivot_leaves_no_full_procfs_to_mount_a_fresh_one_from(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    """With --no-pivot the old root (and the host's /proc on it) stays in the container's
    mount namespace. While a full procfs is visible there, the kernel lets a new user
    namespace mount a fresh, unmasked procfs; runc detaches it first, so this fails."""
    script = "unshare -Urmpf sh -c 'mount -t proc none /proc' 2>&1; echo rc=$?"
    bundle = make_bundle(["sh", "-c", script], edit=_docker_caps)
    ours, theirs = run_both(shim, runc, cid, rid, "--no-pivot", "--bundle", str(bundle))
    assert theirs.code == 0, theirs
    assert theirs.out == "mount: permission denied (are you root?)\nrc=1\n", theirs
    assert (ours.code, ours.out) == (theirs.code, theirs.out), ours


def test_no_pivot_still_runs_and_shows_only_the_rootfs(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    script = "ls /; grep -c ' - proc ' /proc/self/mountinfo"
    bundle = make_bundle(["sh", "-c", script])
    ours, theirs = run_both(shim, runc, cid, rid, "--no-pivot", "--bundle", str(bundle))
    assert theirs.code == 0, theirs
    assert (ours.code, ours.out) == (theirs.code, theirs.out), ours
