"""Issue 16, findings 3 and 8: the exec fifo, leaked fds and an escaping cwd.

3. The helper reopened its O_PATH exec fifo through the path /proc/self/fd/N after the
   root switch, i.e. through the container's /proc. With no /proc mount in the config and
   a regular file at proc/self/fd/N in the image, that open succeeded at once and the
   process started during `create`. It now goes through a pid-only procfs of its own.
8. Two protections no test exercised: close-on-exec of every fd past stdio and the
   preserved ones right before execve, and the getcwd check after chdir (CVE-2024-21626).
   A test build of the helper leaks a host directory fd into itself (`leak-dirfd`, as runc
   once leaked a host cgroup fd): the process must never hold it, and a cwd through
   /proc/self/fd/N to it must be refused.

All judged from the host: the process's fd table in /proc, a marker file the process
writes only if it runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BundleFactory, Shim, needs_busybox, needs_root
from tests.integration._runc_compare import pid_of, status, wait_until
from tests.integration._test_helper import fault, hooks_helper

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(90)]
__all__ = ["fault", "hooks_helper"]  # fixtures, used by name

OUTSIDE = "current working directory is outside of container mount namespace root"
FDS = range(3, 13)


def _blocked_on_fifo(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/wchan").read_text() == "wait_for_partner"
    except FileNotFoundError:
        return False


def test_a_regular_file_at_proc_self_fd_in_the_image_never_starts_the_process_at_create(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    def edit(c: dict[str, Any]) -> None:
        c["root"]["readonly"] = False
        c["mounts"] = [m for m in c["mounts"] if m["destination"] != "/proc"]

    bundle = make_bundle(["sh", "-c", "echo started > /ran"], edit=edit)
    fake = bundle / "rootfs/proc/self/fd"
    fake.mkdir(parents=True)
    for n in FDS:  # whatever number the fifo slot has, the image has a file there
        (fake / str(n)).write_text("")
    ran = bundle / "rootfs/ran"
    shim.ok("create", "--bundle", str(bundle), cid)
    init = pid_of(shim, cid)
    wait_until("the init to block on the fifo, or the process to run",
               lambda: _blocked_on_fifo(init) or ran.exists())  # fmt: skip
    assert not ran.exists(), "the process started at create"
    assert status(shim, cid) == "created"
    shim.ok("start", cid)
    wait_until("the process to run after start", ran.exists)
    assert all((fake / str(n)).read_text() == "" for n in FDS)


@pytest.mark.parametrize("how", ["run", "exec"])
def test_a_directory_fd_leaked_into_the_helper_never_reaches_the_process(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path,
    fault: pytest.MonkeyPatch, how: str,
) -> None:  # fmt: skip
    bundle = make_bundle(["sleep", "60"])
    if how == "run":
        fault.setenv("SHIM_INIT_TEST", "leak-dirfd")
    shim.ok("run", "-d", "--bundle", str(bundle), cid)
    pid = pid_of(shim, cid)
    if how == "exec":
        fault.setenv("SHIM_INIT_TEST", "leak-dirfd")
        pidfile = tmp_path / "exec.pid"
        shim.ok("exec", "-d", "--pid-file", str(pidfile), cid, "sleep", "60")
        pid = int(pidfile.read_text())
    fds = {n: os.readlink(f"/proc/{pid}/fd/{n}") for n in os.listdir(f"/proc/{pid}/fd")}
    assert sorted(fds) == ["0", "1", "2"], f"the process holds {fds}"


def test_exec_cwd_through_a_leaked_directory_fd_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str, fault: pytest.MonkeyPatch
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "60"])), cid)
    fault.setenv("SHIM_INIT_TEST", "leak-dirfd")
    refusals = []
    for n in FDS:
        res = shim("exec", "--cwd", f"/proc/self/fd/{n}", cid, "sh", "-c", "pwd; ls -a")
        assert res.code == 255, (n, res)  # never runs, so never lists the host's root
        assert res.out == "", (n, res)
        refusals.append(res.err)
    # One of them is the leaked host "/": chdir to it works, and getcwd's check stops it.
    assert any(OUTSIDE in err for err in refusals), refusals


def test_a_cwd_swapped_for_a_link_to_a_leaked_directory_fd_is_refused(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path,
    fault: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A createContainer hook (standing in for a racing attacker with a shared volume)
    swaps the cwd the helper made for a symlink to /proc/self/fd/N, after the resolver
    checked it: the chdir follows it, and only the getcwd check remains."""
    fault.setenv("SHIM_INIT_TEST", "leak-dirfd")
    rootfs = tmp_path / "bundle/rootfs"
    hook = tmp_path / "swap.sh"
    refusals = []
    for n in FDS:
        hook.write_text(
            f"#!/bin/sh\nrmdir {rootfs}/work && ln -s /proc/self/fd/{n} {rootfs}/work\n"
        )
        hook.chmod(0o755)

        def edit(c: dict[str, Any]) -> None:
            c["process"]["cwd"] = "/work"
            c["hooks"] = {"createContainer": [{"path": str(hook)}]}

        bundle = make_bundle(["sh", "-c", "pwd; ls -a"], edit=edit)
        res = shim("run", "--bundle", str(bundle), f"{cid}-{n}")
        assert res.code == 1, (n, res)
        assert res.out == "", (n, res)
        refusals.append(res.err)
        (rootfs / "work").unlink()
        assert not (rootfs / "work").exists()
        os.rename(bundle, tmp_path / f"bundle-{n}")  # make_bundle copies to bundle/ again
    assert any(OUTSIDE in err for err in refusals), refusals


def test_the_leak_is_there_to_catch(
    shim: Shim, make_bundle: BundleFactory, cid: str, fault: pytest.MonkeyPatch
) -> None:
    """The fault point works: the waiting init (still our helper) holds the leaked host
    "/", so the tests above would see it in the process without close-on-exec."""
    fault.setenv("SHIM_INIT_TEST", "leak-dirfd")
    shim.ok("create", "--bundle", str(make_bundle(["true"])), cid)
    fd_dir = f"/proc/{pid_of(shim, cid)}/fd"
    roots = [n for n in os.listdir(fd_dir) if os.readlink(f"{fd_dir}/{n}") == "/"]
    assert any("etc" in os.listdir(f"{fd_dir}/{n}") for n in roots), roots


@pytest.mark.parametrize("how", ["run", "exec"])
def test_the_process_starts_with_no_signal_ignored_or_blocked(
    shim: Shim, make_bundle: BundleFactory, cid: str, how: str
) -> None:
    """The helper ignores SIGPIPE for itself (a parent killed mid-create must not kill it
    by signal); ignored signals survive execve, so it must be the default again there."""
    args = ["cat", "/proc/self/status"]
    if how == "run":
        res = shim("run", "--bundle", str(make_bundle(args)), cid)
    else:
        shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "60"])), cid)
        res = shim("exec", cid, *args)
    assert res.code == 0, res
    fields = dict(line.split(":\t", 1) for line in res.out.splitlines() if ":\t" in line)
    assert fields["SigIgn"].strip() == "0" * 16, fields["SigIgn"]
    assert fields["SigBlk"].strip() == "0" * 16, fields["SigBlk"]
