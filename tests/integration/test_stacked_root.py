"""Issue 16, finding 1 and the host deletion: a host whose "/" has copies of itself stacked
on it (`mount --rbind / /`; a machine like this one was seen with 16).

The root switch detached only the topmost mount of the old root; the other copies of the
host's root stayed stacked on the container's root. The init does not start on them, but
`setns` into its mount namespace does (exec), and so does ".." from "/" and a recursive bind
of "/" made inside the container. That last one is what deleted a host's /etc: the OCI
validation suite's runtimetest (linux_rootfs_propagation) binds "/" recursively on
/targetXXX, detaches the topmost mount there and then removes /targetXXX recursively,
which walked into the host's root still stacked below. Every check here is judged from the
host, and every stack is made in a private mount namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    BundleFactory,
    Shim,
    checked_shim,
    leaked_mounts,
    needs_busybox,
    needs_root,
)
from tests.integration._stacked_root import (
    StackedRoot,
    assert_exec_lands_in_container,
    root_listing,
)
from tests.integration.test_userns import ROOT_HOST_ID, chown_tree, with_maps

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(90)]


@pytest.fixture(params=["root-at-bottom", "root-on-top"])
def stacked_shim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Shim]:
    """A Shim whose commands run in a namespace with "/" stacked 3 times (8 copies)."""
    with StackedRoot(depth=3) as stacked:
        yield from checked_shim(tmp_path, stacked.prefix(at_top=request.param == "root-on-top"))


def _writable_root(c: dict[str, Any]) -> None:
    c["root"]["readonly"] = False


def _sys_admin(c: dict[str, Any]) -> None:
    """runtime-tools' privileged generator: the process may mount."""
    _writable_root(c)
    for kind in ("bounding", "effective", "permitted"):
        c["process"]["capabilities"][kind].append("CAP_SYS_ADMIN")


@pytest.mark.parametrize("pivot", ["pivot", "no-pivot"])
def test_exec_under_a_stacked_host_root_runs_in_the_container(
    stacked_shim: Shim, make_bundle: BundleFactory, cid: str, pivot: str
) -> None:
    bundle = make_bundle(["sleep", "60"], edit=_writable_root)
    flags = ["--no-pivot"] if pivot == "no-pivot" else []
    stacked_shim.ok("run", "-d", *flags, "--bundle", str(bundle), cid)
    assert_exec_lands_in_container(stacked_shim, cid)
    init = stacked_shim.state(cid)["pid"]
    assert isinstance(init, int)
    listing = stacked_shim.ok("exec", cid, "ls", "-a", "/").out.split()
    assert sorted(n for n in listing if n not in (".", "..")) == root_listing(init)
    name = f"written-{uuid.uuid4().hex[:8]}"
    try:
        stacked_shim.ok("exec", cid, "sh", "-c", f"echo x > /{name}")
        assert (bundle / "rootfs" / name).read_text() == "x\n"
    finally:
        host_copy = Path("/") / name  # only a vulnerable runtime writes here
        landed_on_host = host_copy.exists()
        host_copy.unlink(missing_ok=True)
    assert not landed_on_host, "exec wrote to the host's root"


def test_the_init_under_a_stacked_host_root_cannot_climb_out_of_its_root(
    stacked_shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["ls", "-a", "/.."])
    res = stacked_shim("run", "--bundle", str(bundle), cid)
    assert res.code == 0, res
    shown = sorted(n for n in res.out.split() if n not in (".", ".."))
    assert shown == sorted(os.listdir(bundle / "rootfs")), "/.. showed another root"


def test_a_recursive_bind_of_root_in_the_container_carries_no_host_root(
    stacked_shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    """runtimetest's linux_rootfs_propagation, minus its `rm -rf`: bind "/" recursively,
    detach the target, and list what a recursive remove of it would then delete. Before
    the fix that was the host's root (and runtime-tools deleted it: the host lost /etc)."""
    script = "mkdir /target && mount --rbind / /target && umount -l /target && ls -A /target"
    bundle = make_bundle(["sh", "-c", script], edit=_sys_admin)
    res = stacked_shim("run", "--bundle", str(bundle), cid)
    assert res.code == 0, res
    assert res.out.split() == [], f"a recursive remove of /target would delete: {res.out}"


@pytest.fixture
def userns_bundle(stacked_shim: Shim, rootfs_template: Path) -> Iterator[Path]:
    """A busybox bundle for the user namespace of test_userns.py (rootfs owned by the
    mapped root), in a 755 directory under /tmp it can walk to; removed after its
    containers are deleted, never through a mount."""
    base = Path(tempfile.mkdtemp(prefix="shim-stacked-", dir="/tmp"))
    base.chmod(0o755)
    try:
        bundle = base / "bundle"
        shutil.copytree(rootfs_template, bundle, symlinks=True)
        bundle.chmod(0o755)
        chown_tree(bundle / "rootfs", ROOT_HOST_ID, ROOT_HOST_ID)
        config = json.loads((bundle / "config.json").read_text())
        config["process"]["args"] = ["sleep", "60"]
        with_maps(config)
        (bundle / "config.json").write_text(json.dumps(config))
        yield bundle
    finally:
        for cid in sorted(stacked_shim.ids):
            stacked_shim("delete", "--force", cid)
        left = leaked_mounts(base)
        assert left == [], f"mounts left behind (not removing {base}): {left}"
        shutil.rmtree(base)


def test_a_user_namespace_container_under_a_stacked_root_is_refused_or_contained(
    stacked_shim: Shim, userns_bundle: Path, cid: str
) -> None:
    """A process whose root is below the top of the stack counts as chrooted, so the kernel
    refuses it a new user namespace (EPERM); and in one, the host's mounts are locked
    together, so stacked copies could not be detached one by one. Failing is fine, with an
    error naming the step; running with the host's root stacked on the container's is not."""
    res = stacked_shim("run", "-d", "--bundle", str(userns_bundle), cid)
    if res.code != 0:
        assert any(
            step in res.err for step in ("detach the old root", "unshare the user namespace")
        ), res
        return
    assert_exec_lands_in_container(stacked_shim, cid)
