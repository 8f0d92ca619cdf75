"""User namespaces: the configured id maps, a rootfs owned by the mapped root, `spec
--rootless`, joining an existing user namespace, exec, and what the mapping keeps out.

The mapped root is an unprivileged uid on the host: it must be able to walk to the rootfs,
and pytest's basetemp is 0700. So these bundles live in a directory of their own under
/tmp (mode 755), removed afterwards. Bad maps (overflow, overlap, none) are refused in
tests/integration/test_bad_input.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.conftest import TIMEOUT, Shim, leaked_mounts, needs_busybox, needs_root
from tests.integration._runc_compare import pid_of

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(60)]

Edit = Callable[[dict[str, Any]], None]
ROOT_HOST_ID = 100000
MAPS = [
    {"containerID": 0, "hostID": ROOT_HOST_ID, "size": 1000},
    {"containerID": 1000, "hostID": 200000, "size": 1000},
]
MAP_LINES = [[0, ROOT_HOST_ID, 1000], [1000, 200000, 1000]]


class UsernsBundleFactory(Protocol):
    def __call__(
        self,
        args: list[str],
        edit: Edit | None = None,
        name: str = "bundle",
        userns: bool = True,
    ) -> Path: ...


def map_lines(text: str) -> list[list[int]]:
    return [[int(field) for field in line.split()] for line in text.splitlines() if line.strip()]


def chown_tree(top: Path, uid: int, gid: int) -> None:
    os.lchown(top, uid, gid)
    for dirpath, dirnames, filenames in os.walk(top):
        for entry in dirnames + filenames:
            os.lchown(os.path.join(dirpath, entry), uid, gid)


def with_maps(c: dict[str, Any]) -> None:
    c["linux"]["namespaces"].append({"type": "user"})
    c["linux"]["uidMappings"] = MAPS
    c["linux"]["gidMappings"] = MAPS


@pytest.fixture
def traversable_dir(shim: Shim) -> Iterator[Path]:
    """A 755 directory under /tmp for bundles; after the test, its containers are deleted
    (before the directory goes), nothing may stay mounted below it, and it is removed."""
    base = Path(tempfile.mkdtemp(prefix="shim-userns-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        for cid in sorted(shim.ids):
            shim("delete", "--force", cid)
        left = leaked_mounts(base)
        # Never rmtree through a mount: it would delete what the mount shows (a bind source).
        assert left == [], f"mounts left behind (not removing {base}): {left}"
        shutil.rmtree(base)


@pytest.fixture
def make_userns_bundle(traversable_dir: Path, rootfs_template: Path) -> UsernsBundleFactory:
    """A busybox bundle whose rootfs belongs to the mapped root, with the user namespace
    and MAPS in its config (unless userns=False: the edit then sets the namespaces)."""

    def make(
        args: list[str], edit: Edit | None = None, name: str = "bundle", userns: bool = True
    ) -> Path:
        bundle = traversable_dir / name
        shutil.copytree(rootfs_template, bundle, symlinks=True)
        bundle.chmod(0o755)
        chown_tree(bundle / "rootfs", ROOT_HOST_ID, ROOT_HOST_ID)
        config = json.loads((bundle / "config.json").read_text())
        config["process"]["args"] = args
        if userns:
            with_maps(config)
        if edit is not None:
            edit(config)
        (bundle / "config.json").write_text(json.dumps(config))
        return bundle

    return make


def test_id_maps_seen_inside_are_the_configs(
    shim: Shim, make_userns_bundle: UsernsBundleFactory, cid: str
) -> None:
    script = "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; id -u; id -g"
    res = shim("run", "--bundle", str(make_userns_bundle(["sh", "-c", script])), cid)
    assert res.code == 0, res
    uid_map, gid_map, ids = res.out.split("--\n")
    assert map_lines(uid_map) == MAP_LINES
    assert map_lines(gid_map) == MAP_LINES
    assert ids.split() == ["0", "0"]


def test_files_made_inside_belong_to_the_mapped_ids_on_the_host(
    shim: Shim, make_userns_bundle: UsernsBundleFactory, cid: str
) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["root"]["readonly"] = False

    script = "touch /by-root; mkdir -m 1777 /shared"
    bundle = make_userns_bundle(["sh", "-c", script], edit=edit)
    res = shim("run", "--bundle", str(bundle), cid)
    assert res.code == 0, res
    for name in ("by-root", "shared"):
        st = os.lstat(bundle / "rootfs" / name)
        assert (st.st_uid, st.st_gid) == (ROOT_HOST_ID, ROOT_HOST_ID), name

    # Again as uid 1000 (host 200000, by the second range), in the directory root made.
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["user"] = {"uid": 1000, "gid": 1000}
    config["process"]["args"] = ["touch", "/shared/by-1000"]
    (bundle / "config.json").write_text(json.dumps(config))
    res = shim("run", "--bundle", str(bundle), f"{cid}-1000")
    assert res.code == 0, res
    st = os.lstat(bundle / "rootfs/shared/by-1000")
    assert (st.st_uid, st.st_gid) == (200000, 200000)


def test_rootless_spec_runs(shim: Shim, traversable_dir: Path, cid: str) -> None:
    bundle = traversable_dir / "rootless"
    bundle.mkdir(mode=0o755)
    res = shim("spec", "--busybox", "--rootless", cwd=str(bundle))
    assert res.code == 0, res
    config = json.loads((bundle / "config.json").read_text())
    assert {"type": "user"} in config["linux"]["namespaces"]
    script = "cat /proc/self/uid_map; readlink /proc/self/ns/user; id -u"
    config["process"]["args"] = ["sh", "-c", script]
    (bundle / "config.json").write_text(json.dumps(config))
    res = shim("run", "--bundle", str(bundle), cid)
    assert res.code == 0, res
    uid_map, userns, uid = res.out.splitlines()
    assert map_lines(uid_map) == [[0, os.getuid(), 1]]
    assert userns != os.readlink("/proc/self/ns/user")
    assert uid == "0"


def _join_user_ns(path: str, maps: list[dict[str, int]]) -> Edit:
    """Join the user namespace at `path`; every other namespace is new. `maps` are that
    namespace's own (runc 1.1 wants them in the config even when joining)."""

    def edit(c: dict[str, Any]) -> None:
        c["linux"]["namespaces"].append({"type": "user", "path": path})
        c["linux"]["uidMappings"] = maps
        c["linux"]["gidMappings"] = maps

    return edit


PROBE = (
    "cat /proc/self/uid_map; echo --; readlink /proc/self/ns/user; readlink /proc/self/ns/mnt;"
    " readlink /proc/self/ns/pid; readlink /proc/self/ns/net; echo $$; id -u"
)


def test_joining_another_containers_user_namespace_with_new_other_namespaces(
    shim: Shim, make_userns_bundle: UsernsBundleFactory, cid: str
) -> None:
    shim.ok("create", "--bundle", str(make_userns_bundle(["true"], name="holder")), cid)
    holder = pid_of(shim, cid)
    bundle = make_userns_bundle(
        ["sh", "-c", PROBE], edit=_join_user_ns(f"/proc/{holder}/ns/user", MAPS), userns=False
    )
    res = shim("run", "--bundle", str(bundle), f"{cid}-joined")
    assert res.code == 0, res
    uid_map, rest = res.out.split("--\n")
    user, mnt, pid, net, shell_pid, uid = rest.split()
    assert map_lines(uid_map) == MAP_LINES
    assert user == os.readlink(f"/proc/{holder}/ns/user")
    for kind, seen in (("mnt", mnt), ("pid", pid), ("net", net)):
        assert seen != os.readlink(f"/proc/{holder}/ns/{kind}"), kind
        assert seen != os.readlink(f"/proc/self/ns/{kind}"), kind
    assert (shell_pid, uid) == ("1", "0")


def test_joining_a_user_namespace_made_by_unshare(
    shim: Shim, make_userns_bundle: UsernsBundleFactory, cid: str
) -> None:
    holder = subprocess.Popen(
        ["unshare", "--user", "--map-root-user", "sleep", "100"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # unshare writes the maps, then execs sleep: sleep running means the maps are there.
        deadline = time.monotonic() + 10
        while not os.readlink(f"/proc/{holder.pid}/exe").endswith("/sleep"):
            assert time.monotonic() < deadline, "unshare never exec'd sleep"
            time.sleep(0.02)

        def edit(c: dict[str, Any]) -> None:
            own = [{"containerID": 0, "hostID": os.getuid(), "size": 1}]
            _join_user_ns(f"/proc/{holder.pid}/ns/user", own)(c)
            for m in c["mounts"]:  # only uid/gid 0 is mapped there: no gid=5 for devpts
                if m["type"] == "devpts":
                    m["options"] = [o for o in m["options"] if o != "gid=5"]

        bundle = make_userns_bundle(["sh", "-c", PROBE], edit=edit, userns=False)
        chown_tree(bundle / "rootfs", 0, 0)  # uid 0 maps to our own uid 0 there
        res = shim("run", "--bundle", str(bundle), cid)
        assert res.code == 0, res
        uid_map_seen, rest = res.out.split("--\n")
        assert map_lines(uid_map_seen) == [[0, os.getuid(), 1]]
        assert rest.split()[0] == os.readlink(f"/proc/{holder.pid}/ns/user")
        assert rest.split()[-2:] == ["1", "0"]
    finally:
        holder.kill()
        holder.wait(TIMEOUT)


def test_exec_runs_as_the_mapped_root(
    shim: Shim, make_userns_bundle: UsernsBundleFactory, cid: str, tmp_path: Path
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_userns_bundle(["sleep", "30"])), cid)
    init = pid_of(shim, cid)
    res = shim.ok("exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map")
    uid, maps = res.out.split("\n", 1)
    assert uid == "0"
    assert map_lines(maps) == MAP_LINES
    pidfile = tmp_path / "exec.pid"
    shim.ok("exec", "-d", "--pid-file", str(pidfile), cid, "sleep", "30")
    pid = int(pidfile.read_text())
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        host_id = "\t".join([str(ROOT_HOST_ID)] * 4)
        assert f"Uid:\t{host_id}" in status
        assert f"Gid:\t{host_id}" in status
        assert os.readlink(f"/proc/{pid}/ns/user") == os.readlink(f"/proc/{init}/ns/user")
    finally:
        os.kill(pid, signal.SIGKILL)


def test_a_non_root_user_cannot_read_a_root_only_file(
    shim: Shim, make_userns_bundle: UsernsBundleFactory, cid: str
) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["process"]["user"] = {"uid": 1000, "gid": 1000}

    bundle = make_userns_bundle(["sleep", "30"], edit=edit)
    secret = bundle / "rootfs/secret"
    secret.write_text("root only\n")
    os.chown(secret, ROOT_HOST_ID, ROOT_HOST_ID)
    secret.chmod(0o600)
    shim.ok("run", "-d", "--bundle", str(bundle), cid)
    res = shim("exec", cid, "sh", "-c", "id -u; cat /secret; echo rc=$?")
    assert res.code == 0, res
    assert res.out.splitlines() == ["1000", "rc=1"], res
    assert "Permission denied" in res.err
    # The mapped root (its owner) can: the refusal was the mapping's doing, not the file's.
    assert shim.ok("exec", "--user", "0:0", cid, "cat", "/secret").out == "root only\n"


def test_a_bind_source_the_mapped_root_cannot_reach_is_opened_for_it_as_runc_does(
    shim: Shim,
    runc: Shim,
    make_userns_bundle: UsernsBundleFactory,
    traversable_dir: Path,
    cid: str,
    rid: str,
) -> None:
    """The volume sits below a 0700 directory of host root's, out of the mapped root's
    reach: the runtime opens it on the host's side and hands the mount over (runc 1.1's
    MOUNT_SOURCES). `ro` still applies, and exec sees the volume too."""
    private = traversable_dir / "private"
    private.mkdir(mode=0o700)
    (private / "vol").mkdir()
    (private / "vol/f").write_text("hello\n")

    def edit(c: dict[str, Any]) -> None:
        c["mounts"].append(
            {"destination": "/data", "type": "bind", "source": str(private / "vol"),
             "options": ["rbind", "ro"]}
        )  # fmt: skip

    script = "cat /data/f; touch /data/x 2>&1; echo touch=$?"
    bundle = make_userns_bundle(["sh", "-c", f"{script}; sleep 100"], edit=edit)
    seen = []
    for tool, name in ((shim, cid), (runc, rid)):
        tool.ok("run", "-d", "--bundle", str(bundle), name)
        seen.append(tool("exec", name, "sh", "-c", script))
        tool.ok("delete", "--force", name)
    assert seen[1].code == 0, seen[1]
    assert seen[1].out == "hello\ntouch: /data/x: Read-only file system\ntouch=1\n", seen[1]
    assert (seen[0].code, seen[0].out) == (seen[1].code, seen[1].out), seen[0]
    assert os.listdir(private / "vol") == ["f"]
