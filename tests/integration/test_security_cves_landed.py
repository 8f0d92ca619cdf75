"""The CVE attacks of test_security_cves.py with the trap really in place.

There, some traps come with the image or a config mount, and the runtime refuses the
config before it ever reaches the file the attack aims at ("cannot be mounted because it
is inside /proc"), so the branch that judges the damage never runs. Here a
createContainer hook plants each trap after every check on the config and the image:
in the container's mount namespace, on the container's own /proc and /dev, at the moment
the runtime is about to use them. Each test shows from the host that the trap landed
(through /proc/<pid>/root), then that it did no harm: the container starts and is as
configured, or the runtime refuses at the point of use and nothing of the host changed.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TIMEOUT, BundleFactory, Result, Shim, needs_busybox, needs_root
from tests.integration._console import ConsoleListener
from tests.integration._runc_compare import assert_fails, pid_of

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(60)]

Edit = Callable[[dict[str, Any]], None]
HOST_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CORE_PATTERN = Path("/proc/sys/kernel/core_pattern")
DOMAINNAME = Path("/proc/sys/kernel/domainname")
DEFAULT_CAPS = 1 << 5 | 1 << 10 | 1 << 29  # KILL, NET_BIND_SERVICE, AUDIT_WRITE
DISK_GID = 6  # a supplementary group of the runtime's caller; never the container's


def _plant(tmp_path: Path, body: str) -> Edit:
    """A createContainer hook (container namespaces, before the root switch; the rootfs is
    at its host path) running `body` with $R set to the rootfs."""
    script = tmp_path / "plant.sh"
    script.write_text(f"#!/bin/sh\nset -e\nR={tmp_path}/bundle/rootfs\n{body}\n")
    script.chmod(0o755)
    hook = {"path": str(script), "args": [str(script)], "env": [HOST_PATH], "timeout": 10}

    def edit(c: dict[str, Any]) -> None:
        c.setdefault("hooks", {}).setdefault("createContainer", []).append(hook)

    return edit


def _both(*edits: Edit) -> Edit:
    def edit(c: dict[str, Any]) -> None:
        for e in edits:
            e(c)

    return edit


def _caps(pid: int) -> dict[str, int]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {
        k: int(v, 16) for k, _, v in (ln.partition(":\t") for ln in lines) if k.startswith("Cap")
    }


def test_a_fake_cap_last_cap_planted_on_the_containers_proc_changes_nothing(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """cap_last_cap reading "-1" kept every capability in the bounding set of a runtime that
    read it from the container's /proc (CVE-2025-52881's kind). The container starts,
    its /proc shows the fake, and the init's sets are exactly the configured ones."""
    fake = tmp_path / "cap_last_cap"
    fake.write_text("-1\n")
    plant = _plant(tmp_path, f"mount --bind {fake} $R/proc/sys/kernel/cap_last_cap")

    def keep_nnp_off(c: dict[str, Any]) -> None:
        c["process"]["noNewPrivileges"] = False  # Docker's default: the widest damage

    bundle = make_bundle(["sleep", "100"], edit=_both(plant, keep_nnp_off))
    shim.ok("run", "-d", "--bundle", str(bundle), cid)
    pid = pid_of(shim, cid)
    assert Path(f"/proc/{pid}/root/proc/sys/kernel/cap_last_cap").read_text() == "-1\n"
    caps = _caps(pid)
    assert caps["CapBnd"] == DEFAULT_CAPS, hex(caps["CapBnd"])
    assert caps["CapPrm"] == DEFAULT_CAPS, hex(caps["CapPrm"])
    assert caps["CapEff"] == DEFAULT_CAPS, hex(caps["CapEff"])


@pytest.fixture
def run_with_disk_group(shim: Shim) -> Callable[[Path, str], Result]:
    """`run -d` by a caller that holds the disk group as a supplementary group."""

    def run(bundle: Path, cid: str) -> Result:
        shim.ids.add(cid)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.run(
                shim.argv("run", "-d", "--bundle", str(bundle), cid),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                preexec_fn=lambda: os.setgroups([DISK_GID]),
                timeout=TIMEOUT,
                check=False,
            )
            out.seek(0)
            err.seek(0)
            return Result(proc.returncode, out.read(), err.read())

    return run


def test_a_fake_setgroups_planted_on_the_inits_proc_never_keeps_the_callers_groups(
    shim: Shim,
    make_bundle: BundleFactory,
    cid: str,
    tmp_path: Path,
    run_with_disk_group: Callable[[Path, str], Result],
) -> None:
    """ "deny" in the init's own /proc/1/setgroups made a runtime that read it there skip
    setgroups(2): the process kept the runtime caller's groups."""
    fake = tmp_path / "setgroups"
    fake.write_text("deny\n")
    plant = _plant(tmp_path, f"mount --bind {fake} $R/proc/1/setgroups")
    res = run_with_disk_group(make_bundle(["sleep", "100"], edit=plant), cid)
    assert res.code == 0, res
    pid = pid_of(shim, cid)
    assert Path(f"/proc/{pid}/root/proc/1/setgroups").read_text() == "deny\n"
    groups = [
        ln
        for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
        if ln.startswith("Groups:")
    ]
    assert [g.split() for g in groups] == [["Groups:"]], groups


@pytest.fixture
def host_files() -> Iterator[None]:
    """core_pattern and the domain name stay as they were (put back if a broken runtime
    changed them, after the test has failed)."""
    before = CORE_PATTERN.read_text(), DOMAINNAME.read_text()
    yield
    after = CORE_PATTERN.read_text(), DOMAINNAME.read_text()
    if after != before:
        CORE_PATTERN.write_text(before[0])
        DOMAINNAME.write_text(before[1])
    assert after == before, "a host file changed"


@pytest.mark.parametrize(
    "trap",
    [
        pytest.param(f"ln -s {CORE_PATTERN} $R/dev/null", id="symlink-to-core-pattern"),
        pytest.param("mknod $R/dev/null c 1 5", id="char-1-5"),
        pytest.param(f"touch $R/dev/null; mount --bind {CORE_PATTERN} $R/dev/null", id="bind"),
    ],
)
def test_a_dev_null_swapped_after_the_device_setup_never_masks_a_path(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path, host_files: None, trap: str
) -> None:
    """The runtime made /dev/null itself; the hook swaps it right before the masked paths
    are bound from it (CVE-2025-31133). Masking refuses what is not the null device."""
    plant = _plant(tmp_path, f"rm -f $R/dev/null; {trap}")

    def writable_proc_sys(c: dict[str, Any]) -> None:  # so a wrong mask could do harm
        c["linux"]["readonlyPaths"] = []
        plant(c)

    bundle = make_bundle(["sh", "-c", "echo x > /proc/keys; sleep 100"], edit=writable_proc_sys)
    res = shim("run", "-d", "--bundle", str(bundle), cid)
    assert_fails(res, "/dev/null is not the null device")
    assert shim("state", cid).code == 1  # nothing of it is left running


def test_a_dev_console_planted_after_the_device_setup_never_gets_the_pty(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path, host_files: None
) -> None:
    """The hook makes /dev/console a symlink to core_pattern right before the pty is bound
    over it (CVE-2025-52565): the bind refuses to follow it, and core_pattern is untouched."""
    plant = _plant(tmp_path, f"ln -s {CORE_PATTERN} $R/dev/console")

    def terminal(c: dict[str, Any]) -> None:
        c["process"]["terminal"] = True

    bundle = make_bundle(["sleep", "100"], edit=_both(plant, terminal))
    with ConsoleListener(tmp_path / "console.sock") as listener:
        res = shim("create", "--bundle", str(bundle), "--console-socket", str(listener.path), cid)
    assert res.code == 1, res
    assert "/dev/console" in res.err, res


def test_a_sysctl_file_overmounted_with_a_host_file_gets_the_write_it_was_for(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path, host_files: None
) -> None:
    """The hook binds the host's domainname over the container's ip_forward; the container
    shares the host's UTS namespace. The sysctl must land in the container's network
    namespace (checked from the host, in that namespace), never in the host's domain name."""
    plant = _plant(tmp_path, f"mount --bind {DOMAINNAME} $R/proc/sys/net/ipv4/ip_forward")

    def edit(c: dict[str, Any]) -> None:
        c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "uts"]
        c.pop("hostname", None)
        c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
        plant(c)

    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "100"], edit=edit)), cid)
    pid = pid_of(shim, cid)

    def ip_forward(*namespaces: str) -> str:
        # /proc/sys/net shows the reader's network namespace: read it from the container's
        files = {"mount": "mnt", "net": "net"}
        argv = ["nsenter", *(f"--{ns}=/proc/{pid}/ns/{files[ns]}" for ns in namespaces)]
        argv += ["cat", "/proc/sys/net/ipv4/ip_forward"]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=True)
        return res.stdout

    assert ip_forward("mount", "net") == DOMAINNAME.read_text()  # the container's view: trap
    assert ip_forward("net") == "1\n"  # the file itself, through our /proc: written
