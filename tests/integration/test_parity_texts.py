"""runc's words for failures and warnings that clients show their users, side by side with
runc 1.1.5 on the same input, and no Python-shaped error (`[Errno 1] ...`) anywhere."""

from __future__ import annotations

import resource
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BundleFactory, Shim, needs_busybox, needs_root
from tests.integration._kernel_files import skip_without_controllers
from tests.integration._runc_compare import assert_fails, error_messages, needs_runc, wait_until

pytestmark = [needs_root, needs_busybox, needs_runc, pytest.mark.privileged]

Edit = Callable[[dict[str, Any]], None]
EXEC_FAILED = 255  # runc exits 255 when exec fails on its side


def _both(shim: Shim, runc: Shim, cid: str, rid: str) -> list[tuple[Shim, str]]:
    return [(shim, cid), (runc, rid)]


@pytest.mark.parametrize("sub", ["../..", "memory:../x", "/../x"])
def test_exec_cgroup_outside_the_container_is_not_a_sub_cgroup_path(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str, sub: str
) -> None:
    if sub.startswith("memory:"):
        skip_without_controllers("memory")  # a controller the sub-path names
    bundle = str(make_bundle(["sleep", "100"]))
    path = sub.partition(":")[2] or sub
    for tool, name in _both(shim, runc, cid, rid):
        tool.ok("run", "-d", "--bundle", bundle, name)
        res = tool("exec", "--cgroup", sub, name, "true")
        assert_fails(res, f"{path} is not a sub cgroup path", EXEC_FAILED)


@pytest.fixture
def busy_cgroup() -> Iterator[str]:
    """A cgroup of ours (every hierarchy) with a process in it; all removed afterwards."""
    name = f"shim-busy-{uuid.uuid4().hex[:8]}"
    dirs = [p / name for p in Path("/sys/fs/cgroup").iterdir() if (p / "cgroup.procs").exists()]
    if Path("/sys/fs/cgroup/cgroup.procs").exists():  # a v2-only view
        dirs = [Path("/sys/fs/cgroup") / name]
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        for d in dirs:
            d.mkdir()
            if (d / "cpuset.cpus").exists():
                (d / "cpuset.cpus").write_text((d.parent / "cpuset.cpus").read_text())
                (d / "cpuset.mems").write_text((d.parent / "cpuset.mems").read_text())
            (d / "cgroup.procs").write_text(str(sleeper.pid))
        yield name
    finally:
        sleeper.kill()
        sleeper.wait(10)
        for d in dirs:  # a reaped task leaves its cgroups a moment later: wait for that
            wait_until(f"{d} to empty", _emptied(d))
            if d.exists():
                d.rmdir()


def _emptied(directory: Path) -> Callable[[], bool]:
    def check() -> bool:
        return not directory.exists() or not (directory / "cgroup.procs").read_text().strip()

    return check


def test_create_in_a_non_empty_cgroup_warns_as_runc_does(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str, busy_cgroup: str
) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["linux"]["cgroupsPath"] = f"/{busy_cgroup}"

    bundle = str(make_bundle(["true"], edit=edit))
    warning = "container's cgroup is not empty: 1 process(es) found"
    for tool, name in _both(shim, runc, cid, rid):
        res = tool("create", "--bundle", bundle, name)
        assert res.code == 0, res
        assert warning in error_messages(res.err), res
        tool.ok("delete", "--force", name)


def test_an_unreachable_seccomp_agent_fails_with_runcs_words(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str, tmp_path: Path
) -> None:
    sock = tmp_path / "nobody.sock"

    def edit(c: dict[str, Any]) -> None:
        c["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": str(sock),
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
        }

    bundle = str(make_bundle(["true"], edit=edit))
    text = (
        "failed to connect with seccomp agent specified in the seccomp profile: "
        f"dial unix {sock}: connect: no such file or directory"
    )
    for tool, name in _both(shim, runc, cid, rid):
        assert_fails(tool("run", "--bundle", bundle, name), text)


def _killed_hook(kind: str, tmp_path: Path) -> Edit:
    script = tmp_path / "die.sh"
    script.write_text("#!/bin/sh\nkill -SYS $$\n")
    script.chmod(0o755)

    def edit(c: dict[str, Any]) -> None:
        c["hooks"] = {kind: [{"path": str(script)}]}

    return edit


@pytest.mark.parametrize("kind", ["prestart", "createContainer"])
def test_a_hook_killed_by_a_signal_is_named_as_go_names_it(
    shim: Shim,
    runc: Shim,
    make_bundle: BundleFactory,
    cid: str,
    rid: str,
    tmp_path: Path,
    kind: str,
) -> None:
    """prestart runs in the runtime (Python), createContainer in the helper (C)."""
    bundle = str(make_bundle(["true"], edit=_killed_hook(kind, tmp_path)))
    for tool, name in _both(shim, runc, cid, rid):
        assert_fails(
            tool("run", "--bundle", bundle, name),
            "error running hook #0: error running hook: signal: bad system call",
        )


def test_an_rlimit_the_kernel_refuses_reads_as_runcs_error_not_pythons(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    """Raising a hard limit past ours needs CAP_SYS_RESOURCE, which this VM's bounding set
    lacks (when it has it, nothing is refused and there is nothing to compare)."""
    limit = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    if limit == resource.RLIM_INFINITY:
        pytest.skip("RLIMIT_NPROC is unlimited here: nothing for the kernel to refuse")

    def edit(c: dict[str, Any]) -> None:
        c["process"]["rlimits"] = [{"type": "RLIMIT_NPROC", "soft": limit + 1, "hard": limit + 1}]

    bundle = str(make_bundle(["true"], edit=edit))
    theirs = runc("run", "--bundle", bundle, rid)
    if theirs.code == 0:
        pytest.skip("this runtime may raise hard limits (CAP_SYS_RESOURCE): nothing refused")
    text = "error setting rlimit type 6: operation not permitted"
    assert_fails(theirs, text)
    ours = shim("run", "--bundle", bundle, cid)
    assert_fails(ours, text)
    assert "[Errno" not in ours.err
