"""Issue 16, findings 6 and 7: edge input that reached the user as `internal error: ...`,
and a sysctl key written to the wrong file.

6. rlimit 18446744073709551615 (RLIM_INFINITY: runc sets "unlimited") gave OverflowError;
   `exec -p` with more than 256 KiB of environment gave ValueError; a config.json or
   process.json nested 100000 deep gave RecursionError. Now: unlimited, as runc; a
   clear error naming process.env; a clear error with Go's "exceeded max depth".
7. `net/ipv4/conf/lo.0/forwarding` (sysctl(8)'s form for interface names with dots) was
   written to net/ipv4/conf/lo/0/forwarding. Tested in the container's own network
   namespace on an interface named lo.0, made there by a createContainer hook.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BundleFactory, Result, Shim, needs_busybox, needs_root
from tests.integration._runc_compare import assert_fails, error_messages, needs_runc

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(60)]

RLIM_INFINITY = (1 << 64) - 1
DEEP = 100000


def _no_internal_error(res: Result) -> None:
    assert not any("internal error" in m for m in error_messages(res.err)), res


def _rlimits(c: dict[str, Any]) -> None:
    c["process"]["rlimits"] = [
        {"type": "RLIMIT_CORE", "hard": RLIM_INFINITY, "soft": RLIM_INFINITY},
        {"type": "RLIMIT_FSIZE", "hard": RLIM_INFINITY, "soft": 1 << 63},
    ]


LIMITS = ["sh", "-c", "ulimit -Hc; ulimit -Sc; ulimit -Hf; ulimit -Sf"]


def test_rlimit_infinity_means_unlimited(shim: Shim, make_bundle: BundleFactory, cid: str) -> None:
    res = shim("run", "--bundle", str(make_bundle(LIMITS, edit=_rlimits)), cid)
    _no_internal_error(res)
    assert res.code == 0, res
    # busybox's ulimit -f counts 512-byte blocks
    assert res.out.split() == ["unlimited", "unlimited", "unlimited", str((1 << 63) // 512)]


@needs_runc
def test_runc_also_reads_rlimit_infinity_as_unlimited(
    runc: Shim, make_bundle: BundleFactory, rid: str
) -> None:
    res = runc("run", "--bundle", str(make_bundle(LIMITS, edit=_rlimits)), rid)
    assert res.code == 0, res
    assert res.out.split()[:3] == ["unlimited", "unlimited", "unlimited"]


def test_exec_process_json_with_more_than_256_kib_of_env_is_a_clear_error(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "60"])), cid)
    process = tmp_path / "process.json"
    env = [f"V{i}={'x' * 1000}" for i in range(300)]
    process.write_text(json.dumps({"args": ["true"], "cwd": "/", "env": env}))
    res = shim("exec", "-p", str(process), cid)
    _no_internal_error(res)
    assert_fails(res, f"{process}: process.env takes", code=255)
    assert "256 KiB" in res.err, res
    res = shim("exec", *[a for e in env[:5] for a in ("-e", e)], cid, "true")
    assert res.code == 0, res  # the same container still execs what fits


def test_config_json_with_more_than_256_kib_of_args_is_a_clear_error(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    res = shim("create", "--bundle", str(make_bundle(["true"] + ["x" * 1000] * 300)), cid)
    _no_internal_error(res)
    assert_fails(res, "config.json: process.args takes")


def _deep(text: str) -> str:
    """`text` (a JSON object) with an unknown field nested DEEP arrays deep."""
    return text[:-1] + ', "x": ' + "[" * DEEP + "]" * DEEP + "}"


def test_config_json_nested_100000_deep_is_a_clear_error(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["true"])
    (bundle / "config.json").write_text(_deep((bundle / "config.json").read_text()))
    res = shim("create", "--bundle", str(bundle), cid)
    _no_internal_error(res)
    assert_fails(res, "config.json: nested too deeply (exceeded max depth)")


@needs_runc
def test_runc_also_refuses_config_json_nested_100000_deep(
    runc: Shim, make_bundle: BundleFactory, rid: str
) -> None:
    bundle = make_bundle(["true"])
    (bundle / "config.json").write_text(_deep((bundle / "config.json").read_text()))
    assert_fails(runc("create", "--bundle", str(bundle), rid), "exceeded max depth")


def test_exec_process_json_nested_100000_deep_is_a_clear_error(
    shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "60"])), cid)
    process = tmp_path / "process.json"
    process.write_text(_deep(json.dumps({"args": ["true"], "cwd": "/"})))
    res = shim("exec", "-p", str(process), cid)
    _no_internal_error(res)
    assert_fails(res, f"{process}: nested too deeply (exceeded max depth)", code=255)


@pytest.mark.skipif(shutil.which("ip") is None, reason="needs ip (iproute2)")
def test_a_slash_separated_sysctl_key_keeps_its_dots(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    ip = shutil.which("ip")
    conf = "/proc/sys/net/ipv4/conf"

    def edit(c: dict[str, Any]) -> None:
        # In the container's own network namespace, before the sysctls are written.
        c["hooks"] = {"createContainer": [
            {"path": ip, "args": ["ip", "link", "add", "lo.0", "type", "bridge"]},
        ]}  # fmt: skip
        c["linux"]["sysctl"] = {"net/ipv4/conf/lo.0/forwarding": "1"}

    script = f"cat {conf}/lo.0/forwarding {conf}/lo/forwarding {conf}/all/forwarding"
    res = shim("run", "--bundle", str(make_bundle(["sh", "-c", script], edit=edit)), cid)
    assert res.code == 0, res
    assert res.out.split() == ["1", "0", "0"], "the value went to another file"
