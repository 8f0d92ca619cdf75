"""tmpfs mounts as runc 1.1.5 makes them: `tmpcopyup` (podman's --read-only and --tmpfs)
copies the covered directory into the tmpfs, and a tmpfs over a directory takes its mode.
Side by side with runc on one bundle, and with podman driving shim as its runtime."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    SHIM,
    TIMEOUT,
    BundleFactory,
    Shim,
    leaked_mounts,
    needs_busybox,
    needs_root,
)
from tests.integration._runc_compare import needs_runc, pid_of

pytestmark = [needs_root, needs_busybox, needs_runc, pytest.mark.privileged]

LISTING = "cd /data && find . | sort | while read -r p; do stat -c '%n %A %u:%g %s' \"$p\"; done"
MTIME = 1577934245  # 2020-01-02 03:04:05 UTC


def _image_dir(rootfs: Path) -> Path:
    """/data in the image: owners, modes (set-uid too), a nested 0700 dir, a symlink."""
    data = rootfs / "data"
    data.mkdir(mode=0o751)
    data.chmod(0o751)
    (data / "f").write_text("hello\n")
    os.chown(data / "f", 1234, 5678)
    (data / "f").chmod(0o640)
    (data / "sub").mkdir()
    os.chown(data / "sub", 42, 43)
    (data / "sub").chmod(0o700)
    (data / "sub/g").write_text("x\n")
    (data / "sub/g").chmod(0o4744)
    (data / "sub/link").symlink_to("../f")
    return data


def _with_tmpfs(options: list[str]) -> Callable[[dict[str, Any]], None]:
    def edit(c: dict[str, Any]) -> None:
        c["root"]["readonly"] = False
        for kind in ("bounding", "effective", "permitted"):  # to list the 0700 dir
            c["process"]["capabilities"][kind].append("CAP_DAC_READ_SEARCH")
        c["mounts"].append(
            {"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": options}
        )

    return edit


def test_tmpcopyup_copies_owners_modes_and_symlinks_as_runc_does(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    bundle = make_bundle(["sh", "-c", LISTING], edit=_with_tmpfs(["tmpcopyup", "nosuid"]))
    _image_dir(bundle / "rootfs")
    ours, theirs = (
        shim("run", "--bundle", str(bundle), cid),
        runc("run", "--bundle", str(bundle), rid),
    )
    assert theirs.code == 0, theirs
    assert theirs.out.splitlines() == [
        ". drwxr-x--x 0:0 80",
        "./f -rw-r----- 1234:5678 6",
        "./sub drwx------ 42:43 80",
        "./sub/g -rwsr--r-- 0:0 2",
        "./sub/link lrwxrwxrwx 0:0 4",
    ], theirs
    assert (ours.code, ours.out) == (theirs.code, theirs.out), ours
    assert sorted(os.listdir(bundle / "rootfs/data")) == ["f", "sub"]  # the image is untouched


def test_tmpcopyup_also_keeps_hard_links_xattrs_times_and_fifos(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    """Beyond runc (which makes two files of a hard link, drops xattrs and times, and fails
    on a fifo): judged from the host, through the container's root."""
    bundle = make_bundle(["sleep", "100"], edit=_with_tmpfs(["tmpcopyup"]))
    data = _image_dir(bundle / "rootfs")
    os.link(data / "f", data / "hard")
    os.setxattr(data / "f", "user.origin", b"image")
    os.setxattr(data / "f", "trusted.origin", b"image")
    os.utime(data / "sub/g", (MTIME, MTIME))
    os.mkfifo(data / "fifo")
    (data / "fifo").chmod(0o620)
    shim.ok("run", "-d", "--bundle", str(bundle), cid)
    inside = Path(f"/proc/{pid_of(shim, cid)}/root/data")
    assert inside.stat().st_dev != data.stat().st_dev  # the tmpfs, not the image
    assert os.stat(inside / "f").st_ino == os.stat(inside / "hard").st_ino
    assert os.getxattr(inside / "hard", "user.origin") == b"image"
    assert os.getxattr(inside / "hard", "trusted.origin") == b"image"
    assert os.stat(inside / "sub/g").st_mtime == MTIME
    fifo = os.lstat(inside / "fifo")
    assert stat.S_ISFIFO(fifo.st_mode)
    assert stat.S_IMODE(fifo.st_mode) == 0o620


def test_a_tmpfs_over_a_directory_takes_its_mode_as_runc_does(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    """runc chmods a tmpfs to the mode of the directory it covers, even over `mode=`; one on
    a new directory keeps the tmpfs's own (1777, or mode=)."""

    def edit(c: dict[str, Any]) -> None:
        c["root"]["readonly"] = False
        c["mounts"] += [
            {"destination": "/t1", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]},
            {"destination": "/t2", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/new", "type": "tmpfs", "source": "tmpfs", "options": ["mode=711"]},
        ]

    results = []
    for tool, name in ((shim, cid), (runc, rid)):  # a bundle each: /new is made in it
        bundle = make_bundle(["stat", "-c", "%n %a", "/t1", "/t2", "/new"], edit, f"b-{name}")
        (bundle / "rootfs/t1").mkdir()
        (bundle / "rootfs/t1").chmod(0o1777)
        (bundle / "rootfs/t2").mkdir()
        (bundle / "rootfs/t2").chmod(0o700)
        results.append(tool("run", "--bundle", str(bundle), name))
    ours, theirs = results
    assert theirs.out == "/t1 1777\n/t2 700\n/new 711\n", theirs
    assert (ours.code, ours.out) == (theirs.code, theirs.out), ours


PODMAN = shutil.which("podman")


@pytest.fixture
def podman() -> Iterator[list[str]]:
    """podman's argv with its storage in a directory of its own (podman wants a runroot
    under 50 characters), a cgroup parent of our own and conmon left in our cgroup: nothing
    of the host's podman setup is used, and everything is removed afterwards."""
    if PODMAN is None:
        pytest.skip("podman is not installed (scripts/setup.sh installs it)")
    store = Path(tempfile.mkdtemp(prefix="shim-pod-", dir="/tmp"))
    parent = f"shim-podman-{uuid.uuid4().hex[:8]}"
    argv = [
        PODMAN, "--root", str(store / "root"), "--runroot", str(store / "run"),
        "--cgroup-manager", "cgroupfs", "--events-backend", "file",
    ]  # fmt: skip
    try:
        yield [*argv, "run", "--rm", "--cgroups=no-conmon", f"--cgroup-parent=/{parent}"]
    finally:
        # runc leaves the parent it made (shim removes it): ours to remove, the
        # containers' cgroups below it must be gone already.
        mounts = leaked_mounts(store)
        if not mounts:  # never rmtree through a mount
            shutil.rmtree(store)
        tops = [Path("/sys/fs/cgroup", parent), *Path("/sys/fs/cgroup").glob(f"*/{parent}")]
        parents = [p for p in tops if p.is_dir()]
        left = [str(c) for p in parents for c in p.iterdir() if c.is_dir()]
        for directory in parents:
            if not any(c.is_dir() for c in directory.iterdir()):
                directory.rmdir()
        assert (left, mounts) == ([], []), "podman left cgroups or mounts behind"


def test_podman_read_only_with_tmpfs_runs_on_shim_as_on_runc(
    podman: list[str], rootfs_template: Path, tmp_path: Path
) -> None:
    """`podman run --read-only` mounts /tmp, /var/tmp and /run as tmpcopyup tmpfs, and
    `--tmpfs DIR:tmpcopyup` another: with shim as its runtime this behaves as with runc."""
    rootfs = tmp_path / "rootfs"
    shutil.copytree(rootfs_template / "rootfs", rootfs, symlinks=True)
    for name in ("run", "tmp", "var/tmp"):
        (rootfs / name).mkdir(parents=True, exist_ok=True)
    (rootfs / "run/marker").write_text("from the image\n")
    _image_dir(rootfs)
    script = (
        "cat /run/marker; stat -c '%n %A %u:%g' /data/f /data/sub/link;"
        " touch /tmp/x /run/y && echo writable; touch /z 2>&1; echo root=$?"
    )
    outputs = []
    for runtime in (shutil.which("runc"), SHIM):
        argv = [
            *podman, "--runtime", str(runtime), "--network", "none",
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
            "--pids-limit", "-1",  # no pids controller on a v2-only view of this host
            "--read-only", "--tmpfs", "/data:tmpcopyup", "--rootfs", str(rootfs),
            "sh", "-c", script,
        ]  # fmt: skip
        res = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT * 3)
        outputs.append((res.returncode, res.stdout, res.stderr))
    assert outputs[0][0] == 0, outputs[0]
    assert outputs[0][1] == (
        "from the image\n/data/f -rw-r----- 1234:5678\n/data/sub/link lrwxrwxrwx 0:0\n"
        "writable\ntouch: /z: Read-only file system\nroot=1\n"
    ), outputs[0]
    assert outputs[1] == outputs[0]
    assert sorted(os.listdir(rootfs / "run")) == ["marker"]  # copied, never written back
