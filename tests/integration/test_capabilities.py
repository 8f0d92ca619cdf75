"""Capabilities: the five sets of `process.capabilities` are applied exactly, nothing more.

The created init is our helper after it applied the process's sets and before execve, so
its /proc/<pid>/status (read from the host) shows exactly what was applied. After execve
the kernel's rules transform them (root gets its permitted set from the bounding set, a
non-root user keeps only the ambient set), so there runc, given the same config, is the
reference. CVE-2022-29162 is why inheritable is never filled in behind the config's back.
Unknown names are refused: tests/integration/test_bad_input.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BundleFactory, Shim, needs_busybox, needs_root
from tests.integration._runc_compare import needs_runc, pid_of

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(60)]

Edit = Callable[[dict[str, Any]], None]
# linux/capability.h numbers of the capabilities these tests use.
CAP = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_KILL": 5,
    "CAP_SETPCAP": 8,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_NET_RAW": 13,
    "CAP_SYS_ADMIN": 21,
    "CAP_AUDIT_WRITE": 29,
}
SETS = {
    "bounding": "CapBnd",
    "effective": "CapEff",
    "permitted": "CapPrm",
    "inheritable": "CapInh",
    "ambient": "CapAmb",
}
STATUS_KEYS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


def mask(names: list[str]) -> int:
    bits = 0
    for name in names:
        bits |= 1 << CAP[name]
    return bits


def caps_of(status_text: str) -> dict[str, int]:
    found = {}
    for line in status_text.splitlines():
        key, _, value = line.partition(":\t")
        if key in STATUS_KEYS:
            found[key] = int(value, 16)
    assert sorted(found) == sorted(STATUS_KEYS), status_text
    return found


def applied(capabilities: dict[str, list[str]] | None) -> dict[str, int]:
    """What the five sets must read after they are applied: each as configured, except that
    an ambient capability is only raised when it is both permitted and inheritable (as in
    runc, which ignores the failing raise)."""
    caps = capabilities or {}
    want = {SETS[kind]: mask(caps.get(kind, [])) for kind in SETS}
    want["CapAmb"] &= want["CapPrm"] & want["CapInh"]
    return want


DEFAULT = {
    kind: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    for kind in ("bounding", "effective", "permitted", "ambient")
}
CUSTOM = {
    "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SYS_ADMIN"],
    "effective": ["CAP_CHOWN", "CAP_NET_RAW"],
    "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
    "inheritable": ["CAP_NET_RAW"],
    "ambient": ["CAP_NET_RAW"],
}
# Ambient asks for three: only NET_RAW is both permitted and inheritable.
AMBIENT_FILTERED = {
    "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
    "effective": ["CAP_CHOWN"],
    "permitted": ["CAP_CHOWN", "CAP_NET_RAW"],
    "inheritable": ["CAP_KILL", "CAP_NET_RAW"],
    "ambient": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
}
CASES: list[Any] = [
    pytest.param(DEFAULT, 0, id="runc-spec-default"),
    pytest.param(CUSTOM, 0, id="custom-root"),
    pytest.param(CUSTOM, 1000, id="custom-uid-1000"),
    pytest.param(AMBIENT_FILTERED, 1000, id="ambient-needs-permitted-and-inheritable"),
    pytest.param({}, 0, id="empty-object"),
    pytest.param(None, 0, id="missing"),
]


def with_caps(capabilities: dict[str, list[str]] | None, uid: int, nnp: bool = True) -> Edit:
    def edit(c: dict[str, Any]) -> None:
        c["process"]["user"] = {"uid": uid, "gid": uid}
        c["process"]["noNewPrivileges"] = nnp
        if capabilities is None:
            c["process"].pop("capabilities", None)
        else:
            c["process"]["capabilities"] = capabilities

    return edit


@pytest.mark.parametrize(("capabilities", "uid"), CASES)
def test_created_init_holds_exactly_the_configured_sets(
    shim: Shim,
    make_bundle: BundleFactory,
    cid: str,
    capabilities: dict[str, list[str]] | None,
    uid: int,
) -> None:
    bundle = make_bundle(["true"], edit=with_caps(capabilities, uid))
    shim.ok("create", "--bundle", str(bundle), cid)
    status = Path(f"/proc/{pid_of(shim, cid)}/status").read_text()
    assert caps_of(status) == applied(capabilities)
    assert f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}" in status.splitlines()


def test_no_set_gets_a_capability_the_config_does_not_name(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    """Every capability the helper itself holds (it runs as real root) is dropped: from
    the bounding set too, so no later execve of a privileged file can bring it back."""
    one = {kind: ["CAP_KILL"] for kind in SETS}
    shim.ok("create", "--bundle", str(make_bundle(["true"], edit=with_caps(one, 0))), cid)
    caps = caps_of(Path(f"/proc/{pid_of(shim, cid)}/status").read_text())
    assert caps == dict.fromkeys(STATUS_KEYS, mask(["CAP_KILL"]))


@needs_runc
@pytest.mark.parametrize(("capabilities", "uid"), CASES[1:])
@pytest.mark.parametrize("nnp", [True, False], ids=["nnp", "no-nnp"])
def test_running_process_sets_match_runc(
    shim: Shim,
    runc: Shim,
    make_bundle: BundleFactory,
    cid: str,
    capabilities: dict[str, list[str]] | None,
    uid: int,
    nnp: bool,
) -> None:
    edit = with_caps(capabilities, uid, nnp)
    args = ["cat", "/proc/self/status"]
    ours = shim("run", "--bundle", str(make_bundle(args, edit=edit)), cid)
    theirs = runc(
        "run", "--bundle", str(make_bundle(args, edit=edit, name="runc-bundle")), f"{cid}-runc"
    )
    assert ours.code == 0, ours
    assert theirs.code == 0, theirs
    assert caps_of(ours.out) == caps_of(theirs.out)
    if uid != 0:  # no file caps on busybox: a non-root user keeps exactly its ambient set
        want = applied(capabilities)
        got = caps_of(ours.out)
        assert got == want | {"CapPrm": want["CapAmb"], "CapEff": want["CapAmb"]}


@needs_runc
def test_exec_process_json_sets_are_applied_like_runc(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    """`exec -p` with its own capabilities (and a non-root user) replaces the container's."""
    process = {
        "args": ["cat", "/proc/self/status"],
        "cwd": "/",
        "env": ["PATH=/bin"],
        "user": {"uid": 1000, "gid": 1000},
        "capabilities": AMBIENT_FILTERED,
    }
    pfile = tmp_path / "process.json"
    pfile.write_text(json.dumps(process))
    results = []
    for runtime, name in ((shim, cid), (runc, f"{cid}-runc")):
        bundle = make_bundle(["sleep", "30"], name=name)
        res = runtime("run", "-d", "--bundle", str(bundle), name)
        assert res.code == 0, res
        res = runtime("exec", "-p", str(pfile), name)
        assert res.code == 0, res
        results.append(caps_of(res.out))
    ours, theirs = results
    assert ours == theirs
    want = applied(AMBIENT_FILTERED)
    assert ours == want | {"CapPrm": want["CapAmb"], "CapEff": want["CapAmb"]}
