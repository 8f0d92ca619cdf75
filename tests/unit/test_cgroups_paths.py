"""runc 1.1 cgroupfs path rules, on fixture hierarchies."""

from __future__ import annotations

import pytest

from shim.cgroups import parse_mountinfo, parse_proc_cgroup, resolve_paths
from shim.errors import CgroupError, InvalidConfig

HYBRID = parse_mountinfo(
    "".join(
        f"{30 + i} 31 0:{30 + i} / /sys/fs/cgroup/{name} rw - cgroup cgroup rw,{opts}\n"
        for i, (name, opts) in enumerate(
            [
                ("cpu,cpuacct", "cpu,cpuacct"),
                ("cpuset", "cpuset"),
                ("memory", "memory"),
                ("devices", "devices"),
                ("freezer", "freezer"),
                ("debug", "debug"),
                ("systemd", "xattr,name=systemd"),
                ("elogind", "name=elogind"),
            ]
        )
    )
    + "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
)
HYBRID_OWN = parse_proc_cgroup(
    "8:name=systemd:/user.slice/s1.scope\n"
    "7:freezer:/\n"
    "6:devices:/user.slice\n"
    "5:memory:/process_api/e52c\n"
    "4:cpuset:/\n"
    "3:cpu,cpuacct:/\n"
    "2:debug:/\n"
    "1:name=elogind:/\n"
    "0::/user.slice/s1.scope\n"
)
V2 = parse_mountinfo("24 18 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n")
V2_OWN = {"": "/user.slice/user-0.slice/session-1.scope"}


def test_absolute_path_goes_below_each_mountpoint() -> None:
    paths = resolve_paths(HYBRID, HYBRID_OWN, "/kube/pod1/c1", "c1")
    assert paths == {
        "cpuset": "/sys/fs/cgroup/cpuset/kube/pod1/c1",
        "devices": "/sys/fs/cgroup/devices/kube/pod1/c1",
        "memory": "/sys/fs/cgroup/memory/kube/pod1/c1",
        "cpu": "/sys/fs/cgroup/cpu,cpuacct/kube/pod1/c1",
        "cpuacct": "/sys/fs/cgroup/cpu,cpuacct/kube/pod1/c1",
        "freezer": "/sys/fs/cgroup/freezer/kube/pod1/c1",
        "name=systemd": "/sys/fs/cgroup/systemd/kube/pod1/c1",
        "": "/sys/fs/cgroup/unified/kube/pod1/c1",
    }


def test_relative_path_goes_below_the_own_cgroup_of_each_hierarchy() -> None:
    paths = resolve_paths(HYBRID, HYBRID_OWN, "group/c1", "c1")
    assert paths["memory"] == "/sys/fs/cgroup/memory/process_api/e52c/group/c1"
    assert paths["devices"] == "/sys/fs/cgroup/devices/user.slice/group/c1"
    assert paths["cpu"] == paths["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct/group/c1"
    assert paths["name=systemd"] == "/sys/fs/cgroup/systemd/user.slice/s1.scope/group/c1"


def test_hybrid_unified_dir_ignores_the_own_cgroup_as_runc_does() -> None:
    paths = resolve_paths(HYBRID, HYBRID_OWN, "group/c1", "c1")
    assert paths[""] == "/sys/fs/cgroup/unified/group/c1"


def test_empty_path_uses_the_container_id_below_the_own_cgroup() -> None:
    paths = resolve_paths(HYBRID, HYBRID_OWN, "", "mycontainer")
    assert paths["memory"] == "/sys/fs/cgroup/memory/process_api/e52c/mycontainer"
    assert paths["freezer"] == "/sys/fs/cgroup/freezer/mycontainer"
    assert paths[""] == "/sys/fs/cgroup/unified/mycontainer"


def test_only_runc_subsystems_and_name_systemd_are_joined() -> None:
    paths = resolve_paths(HYBRID, HYBRID_OWN, "", "c1")
    assert "debug" not in paths
    assert "name=elogind" not in paths
    assert "name=systemd" in paths


def test_controller_missing_from_own_cgroups_is_skipped_for_relative_paths() -> None:
    own = {k: v for k, v in HYBRID_OWN.items() if k != "freezer"}
    assert "freezer" not in resolve_paths(HYBRID, own, "", "c1")
    assert "freezer" in resolve_paths(HYBRID, own, "/abs", "c1")


def test_v1_without_devices_is_refused() -> None:
    hierarchy = parse_mountinfo("32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n")
    with pytest.raises(CgroupError, match="devices"):
        resolve_paths(hierarchy, {"cpu": "/"}, "", "c1")


def test_v2_paths_have_only_the_unified_key() -> None:
    assert resolve_paths(V2, V2_OWN, "/kube/c1", "c1") == {"": "/sys/fs/cgroup/kube/c1"}


def test_v2_relative_path_goes_below_the_parent_of_the_own_cgroup() -> None:
    paths = resolve_paths(V2, V2_OWN, "", "c1")
    assert paths == {"": "/sys/fs/cgroup/user.slice/user-0.slice/c1"}
    assert resolve_paths(V2, {"": "/"}, "x", "c1") == {"": "/sys/fs/cgroup/x"}


def test_v2_without_a_cgroup2_line_is_an_error() -> None:
    with pytest.raises(CgroupError, match="0::"):
        resolve_paths(V2, {}, "", "c1")


def test_own_cgroup_is_taken_relative_to_the_mount_root() -> None:
    # A nested container: the host's memory cgroup /docker/abc is mounted at
    # /sys/fs/cgroup/memory, and /proc/self/cgroup shows host paths.
    nested = parse_mountinfo(
        "35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "36 31 0:33 /docker/abc /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n"
    )
    own = {"memory": "/docker/abc/inner", "devices": "/docker/abc"}
    paths = resolve_paths(nested, own, "", "c1")
    assert paths == {
        "memory": "/sys/fs/cgroup/memory/inner/c1",
        "devices": "/sys/fs/cgroup/devices/c1",
    }
    with pytest.raises(CgroupError, match="outside the mounted /docker/abc"):
        resolve_paths(nested, {"memory": "/docker/abcdef", "devices": "/"}, "", "c1")


@pytest.mark.parametrize(
    ("cgroups_path", "suffix"),
    [
        ("//kube//./pod1/", "kube/pod1"),
        ("/kube/../pod1", "pod1"),
        ("kube/./x/../c1", "kube/c1"),
    ],
)
def test_path_is_cleaned(cgroups_path: str, suffix: str) -> None:
    paths = resolve_paths(HYBRID, HYBRID_OWN, cgroups_path, "c1")
    assert paths["freezer"] == f"/sys/fs/cgroup/freezer/{suffix}"


@pytest.mark.parametrize(
    "cgroups_path", ["/../etc", "../x", "a/../../x", "/a/../../../..", "..", "x/../.."]
)
def test_dotdot_escaping_the_tree_is_refused(cgroups_path: str) -> None:
    with pytest.raises(InvalidConfig, match=r"linux\.cgroupsPath.*leads out"):
        resolve_paths(HYBRID, HYBRID_OWN, cgroups_path, "c1")


@pytest.mark.parametrize("cgroups_path", ["/", "//", ".", "/./", "a/.."])
def test_path_naming_the_root_itself_is_refused(cgroups_path: str) -> None:
    with pytest.raises(InvalidConfig, match=r"linux\.cgroupsPath.*names no cgroup"):
        resolve_paths(HYBRID, HYBRID_OWN, cgroups_path, "c1")


@pytest.mark.parametrize("container_id", ["..", "."])
def test_container_id_cannot_escape_either(container_id: str) -> None:
    with pytest.raises(InvalidConfig, match="container id"):
        resolve_paths(V2, V2_OWN, "", container_id)
