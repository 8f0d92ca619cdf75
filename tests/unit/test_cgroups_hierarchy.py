"""Finding cgroup hierarchies in mountinfo and /proc/<pid>/cgroup text."""

from __future__ import annotations

import pytest

from shim.cgroups import Mount, parse_mountinfo, parse_proc_cgroup
from shim.errors import CgroupError

# This project's build host (systemd hybrid layout), with a few unrelated mounts.
HYBRID = """\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

# A distribution v1 layout: co-mounted controllers, flags and optional fields.
V1_COMOUNTED = """\
25 18 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid shared:10 - cgroup cgroup \
rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/net_cls,net_prio rw shared:14 master:2 - cgroup cgroup \
rw,net_cls,net_prio
31 25 0:28 / /sys/fs/cgroup/cpuset rw,nosuid shared:15 - cgroup cgroup rw,cpuset,clone_children
32 25 0:29 / /sys/fs/cgroup/devices rw,nosuid shared:16 - cgroup cgroup rw,devices
33 25 0:30 / /sys/fs/cgroup/memory rw,nosuid shared:17 - cgroup cgroup rw,memory
"""

V2 = """\
24 18 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 \
rw,nsdelegate,memory_recursiveprot
"""


def test_hybrid_host_has_each_controller_and_the_unified_tree() -> None:
    hierarchy = parse_mountinfo(HYBRID)
    assert hierarchy.mode == "hybrid"
    assert hierarchy.v1["memory"] == Mount("/sys/fs/cgroup/memory", "/", ("memory",))
    assert hierarchy.v1["name=systemd"].mountpoint == "/sys/fs/cgroup/systemd"
    assert hierarchy.unified == Mount("/sys/fs/cgroup/unified", "/", ())
    assert set(hierarchy.v1) == {
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "pids",
        "name=systemd",
    }


def test_comounted_controllers_share_one_mount_and_flags_are_not_controllers() -> None:
    hierarchy = parse_mountinfo(V1_COMOUNTED)
    assert hierarchy.mode == "v1"
    assert hierarchy.unified is None
    assert hierarchy.v1["cpu"] is hierarchy.v1["cpuacct"]
    assert hierarchy.v1["cpu"].controllers == ("cpu", "cpuacct")
    assert hierarchy.v1["net_prio"].mountpoint == "/sys/fs/cgroup/net_cls,net_prio"
    assert hierarchy.v1["cpuset"].controllers == ("cpuset",)
    assert hierarchy.v1["name=systemd"].controllers == ("name=systemd",)
    assert not {"rw", "xattr", "clone_children"} & set(hierarchy.v1)
    assert not any(name.startswith("release_agent") for name in hierarchy.v1)


def test_pure_v2_host() -> None:
    hierarchy = parse_mountinfo(V2)
    assert hierarchy.mode == "v2"
    assert hierarchy.v1 == {}
    assert hierarchy.unified == Mount("/sys/fs/cgroup", "/", ())


def test_named_hierarchy_alone_does_not_make_a_v1_host() -> None:
    named = "26 25 0:23 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n"
    assert parse_mountinfo(V2 + named).mode == "v2"
    with pytest.raises(CgroupError, match="no cgroup filesystem"):
        parse_mountinfo(named)


def test_no_cgroup_mount_is_an_error() -> None:
    with pytest.raises(CgroupError, match="no cgroup filesystem"):
        parse_mountinfo(HYBRID.splitlines()[0])


def test_first_mount_of_a_controller_wins_and_keeps_its_root() -> None:
    bind = "90 31 0:32 /docker/abc /mnt/memory rw - cgroup cgroup rw,memory\n"
    hierarchy = parse_mountinfo(HYBRID + bind)
    assert hierarchy.v1["memory"].mountpoint == "/sys/fs/cgroup/memory"
    nested = parse_mountinfo(bind + HYBRID)
    assert nested.v1["memory"] == Mount("/mnt/memory", "/docker/abc", ("memory",))


def test_escaped_mountpoint_is_decoded() -> None:
    line = r"40 31 0:37 / /mnt/my\040cgroups\134x rw - cgroup2 cgroup2 rw" + "\n"
    hierarchy = parse_mountinfo(line)
    assert hierarchy.unified is not None
    assert hierarchy.unified.mountpoint == "/mnt/my cgroups\\x"


@pytest.mark.parametrize(
    "garbage",
    ["", "\n\n", "not mountinfo at all", "1 2 3 4 5 6 -", "41 31 0:38 / /x rw - cgroup2", "- - -"],
)
def test_truncated_or_garbage_lines_are_skipped(garbage: str) -> None:
    assert parse_mountinfo(garbage + "\n" + HYBRID).mode == "hybrid"


def test_every_split_of_a_line_is_skipped_or_parsed_whole() -> None:
    line = HYBRID.splitlines()[-1]
    for cut in range(len(line)):
        text = line[:cut] + "\n" + HYBRID
        assert parse_mountinfo(text).unified == Mount("/sys/fs/cgroup/unified", "/", ())


def test_proc_cgroup_maps_each_hierarchy_to_the_own_cgroup() -> None:
    text = (
        "9:name=systemd:/\n"
        "4:memory:/process_api/e52c\n"
        "2:cpu,cpuacct:/a/b\n"
        "0::/user.slice/x:y.scope\n"
    )
    assert parse_proc_cgroup(text) == {
        "name=systemd": "/",
        "memory": "/process_api/e52c",
        "cpu": "/a/b",
        "cpuacct": "/a/b",
        "": "/user.slice/x:y.scope",
    }


def test_proc_cgroup_on_v2_has_only_the_unified_key() -> None:
    assert parse_proc_cgroup("0::/init.scope\n") == {"": "/init.scope"}


@pytest.mark.parametrize("garbage", ["", "junk", "1:cpu", "1:cpu:relative", "::", "\x00:\x00:"])
def test_proc_cgroup_skips_malformed_lines(garbage: str) -> None:
    assert parse_proc_cgroup(garbage + "\n0::/\n") == {"": "/"}
