"""The root filesystem as runc 1.1.5 builds it, side by side on the same bundle: --no-pivot
hides the host's procfs, read-only mounts with mounts below them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TIMEOUT, BundleFactory, Result, Shim, needs_busybox, needs_root
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


def _ro_dev_and_tmp(c: dict[str, Any]) -> None:
    for m in c["mounts"]:
        if m["destination"] == "/dev":
            m["options"].append("ro")
    c["mounts"] += [
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]},
        {"destination": "/tmp/sub", "type": "tmpfs", "source": "tmpfs"},
    ]


READONLY_PROBE = (
    "awk '$5 ~ /^\\/(dev|tmp)/ { split($0, a, \" - \"); print $5, $6, a[2] }'"
    " /proc/self/mountinfo;"
    " touch /dev/x; echo dev=$?; touch /tmp/x; echo tmp=$?; touch /tmp/sub/x; echo sub=$?;"
    " echo hi > /dev/null; echo null=$?; ls /dev"
)


def test_a_read_only_dev_and_tmpfs_get_their_mounts_below_then_turn_read_only(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    """runc mounts a read-only tmpfs (and /dev) writable, makes nodes, links and the mount
    points below it, and remounts it read-only at the end (the mount, not its superblock)."""
    bundle = make_bundle(["sh", "-c", READONLY_PROBE], edit=_ro_dev_and_tmp)
    ours, theirs = run_both(shim, runc, cid, rid, "--bundle", str(bundle))
    assert theirs.code == 0, theirs
    assert "/dev ro,nosuid tmpfs tmpfs rw," in theirs.out, theirs
    assert "dev=1\ntmp=1\nsub=0\nnull=0\n" in theirs.out, theirs
    assert (ours.code, ours.out, ours.err) == (theirs.code, theirs.out, theirs.err), ours


def test_a_read_only_bind_stays_read_only_for_the_mount_points_below_it(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str, tmp_path: Path
) -> None:
    """Unlike a tmpfs, a bind is read-only at once: a mount point below it would be made in
    the host directory the config asked to keep read-only. Both refuse, nothing is made."""
    volume = tmp_path / "volume"
    volume.mkdir()

    def edit(c: dict[str, Any]) -> None:
        c["mounts"] += [
            {"destination": "/vol", "type": "bind", "source": str(volume),
             "options": ["rbind", "ro"]},
            {"destination": "/vol/sub", "type": "tmpfs", "source": "tmpfs"},
        ]  # fmt: skip

    bundle = make_bundle(["true"], edit=edit)
    ours, theirs = run_both(shim, runc, cid, rid, "--bundle", str(bundle))
    assert theirs.code == 1, theirs
    assert "read-only file system" in theirs.err, theirs
    assert ours.code == 1, ours
    assert "Read-only file system" in ours.err, ours
    assert os.listdir(volume) == []


NO_MOUNT_NS_SCRIPT = """
$RT --root $ROOT run -d --bundle $BUNDLE $ID </dev/null >/dev/null 2>&1 || exit 1
pid=$($RT --root $ROOT state $ID | sed -n 's/.*"pid": *\\([0-9]*\\).*/\\1/p')
[ "$(readlink /proc/$pid/ns/mnt)" = "$(readlink /proc/self/ns/mnt)" ] && echo shares-our-mounts
echo "container root: $(ls /proc/$pid/root/ | tr '\\n' ' ')"
echo "exec root: $($RT --root $ROOT exec $ID ls / | tr '\\n' ' ')"
$RT --root $ROOT delete --force $ID
echo "mounts left: $(grep -c " $BUNDLE/" /proc/self/mountinfo)"
"""


def _no_mount_ns(c: dict[str, Any]) -> None:
    c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "mount"]
    c["linux"].pop("maskedPaths", None)  # runc: they need a mount namespace
    c["linux"].pop("readonlyPaths", None)


def _in_private_mount_ns(tool: Shim, name: str, bundle: Path) -> str:
    """The script above, in a mount namespace of its own: the container's mounts are made
    in the runtime's namespace, and the host's must never see them."""
    env = {"RT": tool.binary, "ROOT": str(tool.root), "ID": name, "BUNDLE": str(bundle)}
    res = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", NO_MOUNT_NS_SCRIPT],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=TIMEOUT * 2,
        check=False,
    )
    assert res.returncode == 0, res
    return res.stdout


def test_a_config_without_a_mount_namespace_runs_chrooted_in_ours(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    """runc runs it: the mounts are made in the runtime's mount namespace, the process is
    chrooted into the rootfs. Unlike runc, exec enters the container's root (runc leaves
    the process in the runtime's root) and delete takes the mounts away again."""
    bundle = make_bundle(["sleep", "100"], edit=_no_mount_ns)
    theirs = _in_private_mount_ns(runc, rid, bundle).splitlines()
    ours = _in_private_mount_ns(shim, cid, bundle).splitlines()
    rootfs = "bin dev etc home lib proc root run sbin sys tmp usr var "
    assert theirs[:2] == ["shares-our-mounts", f"container root: {rootfs}"], theirs
    assert theirs[2] != f"exec root: {rootfs}", theirs  # the runtime's own root
    assert int(theirs[3].split(": ")[1]) > 0, theirs  # runc leaves its mounts behind
    assert ours == [*theirs[:2], f"exec root: {rootfs}", "mounts left: 0"]
