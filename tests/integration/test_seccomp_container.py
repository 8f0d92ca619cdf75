"""linux.seccomp in real containers: the compiled filter is loaded by the helper where
runc loads it, exec'd processes run under it, and notify listeners reach listenerPath."""

from __future__ import annotations

import array
import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BundleFactory, Shim, needs_busybox, needs_root
from tests.integration.test_seccomp_filter import containerd_default_profile

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged]


def _with(profile: dict[str, Any], *, writable: bool = False) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        config["linux"]["seccomp"] = profile
        if writable:
            config["root"]["readonly"] = False

    return edit


def test_an_errno_rule_denies_mkdir_and_the_rest_works(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    script = "mkdir /tmp/x 2>&1; echo rc=$?; grep ^Seccomp: /proc/self/status; ls /bin/sh"
    res = shim("run", "--bundle", str(make_bundle(["sh", "-c", script], _with(profile))), cid)
    assert res.code == 0, res
    assert "Operation not permitted" in res.out
    assert "rc=1" in res.out
    assert "Seccomp:\t2" in res.out
    assert "/bin/sh" in res.out


def test_an_args_condition_matches_only_its_signal(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {
                "names": ["kill"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 1,
                "args": [{"index": 1, "value": 10, "op": "SCMP_CMP_EQ"}],  # SIGUSR1
            }
        ],
    }
    script = (
        "kill -0 $$ && echo zero-ok; trap 'echo got-usr2' USR2; kill -USR2 $$; kill -USR1 $$ 2>&1"
    )
    res = shim("run", "--bundle", str(make_bundle(["sh", "-c", script], _with(profile))), cid)
    assert "zero-ok" in res.out, res
    assert "got-usr2" in res.out, res
    assert "Operation not permitted" in res.out, res


def test_containerds_default_profile_still_runs_a_busybox_shell(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    script = "echo hello; ls / > /dev/null; unshare -U true 2>/dev/null || echo unshare-denied"
    bundle = make_bundle(["sh", "-c", script], _with(containerd_default_profile()))
    res = shim("run", "--bundle", str(bundle), cid)
    assert res.code == 0, res
    assert res.out.split() == ["hello", "unshare-denied"]


def test_exec_runs_under_the_containers_filter(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "60"], _with(profile))), cid)
    res = shim("exec", cid, "sh", "-c", "mkdir /tmp/y 2>&1; echo rc=$?")
    assert "Operation not permitted" in res.out, res
    assert "rc=1" in res.out


def test_a_notify_filter_hands_its_listener_to_listener_path(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    path = str(tmp_path / "agent.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.settimeout(20)
    got: dict[str, Any] = {}

    def agent() -> None:
        conn, _ = server.accept()
        with conn:
            conn.settimeout(20)
            data, anc, _, _ = conn.recvmsg(65536, socket.CMSG_SPACE(4))
            got["message"] = json.loads(data)
            fds = [array.array("i", a[2])[0] for a in anc if a[1] == socket.SCM_RIGHTS]
            got["fds"] = len(fds)
            for fd in fds:  # nobody answers: notified syscalls then fail with ENOSYS
                socket.close(fd)

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": path,
        "listenerMetadata": "meta-1",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    }
    try:
        script = "mkdir /tmp/z 2>&1; echo done"
        res = shim("run", "--bundle", str(make_bundle(["sh", "-c", script], _with(profile))), cid)
        thread.join(20)
    finally:
        server.close()
    assert res.code == 0, res
    assert got["fds"] == 1
    message = got["message"]
    assert message["fds"] == ["seccompFd"]
    assert message["metadata"] == "meta-1"
    assert message["state"]["id"] == cid
    assert message["pid"] > 0
    assert "Function not implemented" in res.out
    assert "done" in res.out


def test_notify_without_listener_path_is_refused_before_anything_runs(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    }
    res = shim("create", "--bundle", str(make_bundle(["true"], _with(profile))), cid)
    assert res.code == 1
    assert "linux.seccomp.syscalls[0]: SCMP_ACT_NOTIFY needs a listenerPath" in res.err


@pytest.mark.parametrize(
    ("profile", "field"),
    [
        ({"defaultAction": "SCMP_ACT_FOO"}, "defaultAction"),
        ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NOPE"]}, "architectures"),
        (
            {
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_BAD"}],
            },
            "syscalls[0].action",
        ),
    ],
)
def test_a_bad_profile_is_refused_naming_the_field(
    shim: Shim, make_bundle: BundleFactory, cid: str, profile: dict[str, Any], field: str
) -> None:
    res = shim("create", "--bundle", str(make_bundle(["true"], _with(profile))), cid)
    assert res.code == 1
    assert f"linux.seccomp.{field}" in res.err, res


def test_an_unknown_syscall_name_is_skipped_like_runc(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["no_such_syscall_name"], "action": "SCMP_ACT_ERRNO"}],
    }
    res = shim("run", "--bundle", str(make_bundle(["true"], _with(profile))), cid)
    assert res.code == 0, res
