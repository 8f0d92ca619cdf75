"""Device rules as runc 1.1.5 applies them, side by side on the same bundle, judged by the
kernel: opening a device node is refused with EPERM only by the device cgroup (v1
devices.list, or the v2 BPF program), so each probe is one the rules alone decide."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import BundleFactory, Shim, needs_busybox, needs_root
from tests.integration._kernel_files import cgroup_file, is_v2_only
from tests.integration._runc_compare import assert_fails, needs_runc, pid_of

pytestmark = [needs_root, needs_busybox, needs_runc, pytest.mark.privileged]

KMSG = {"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 0o644}
# Opening /dev/kmsg needs CAP_SYSLOG for reading (the container has it) and nothing for
# writing; an open refused with EPERM is the device cgroup's doing.
KMSG_PROBE = "(: < /dev/kmsg); echo read=$?; (: >> /dev/kmsg); echo write=$?"
EPERM_BOTH = (
    "read=1\nwrite=1\n",
    "sh: can't open /dev/kmsg: Operation not permitted\n"
    "sh: can't create /dev/kmsg: Operation not permitted\n",
)


def _kmsg(rules: list[dict[str, Any]]) -> Callable[[dict[str, Any]], None]:
    def edit(c: dict[str, Any]) -> None:
        for kind in ("bounding", "effective", "permitted"):
            c["process"]["capabilities"][kind].append("CAP_SYSLOG")
        c["linux"]["devices"] = [KMSG]
        c["linux"]["resources"]["devices"] = rules

    return edit


def _probe(tool: Shim, name: str) -> tuple[str, str]:
    res = tool("exec", name, "sh", "-c", KMSG_PROBE)
    assert res.code == 0, res
    return res.out, res.err


def _both(shim: Shim, runc: Shim, cid: str, rid: str) -> list[tuple[Shim, str]]:
    return [(shim, cid), (runc, rid)]


def test_a_device_node_from_linux_devices_is_still_subject_to_a_deny_all_rule(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    """The node is made, but a deny-all rule keeps it closed (runc adds no rule for it),
    and `update --pids-limit` leaves the device rules as they were."""
    bundle = str(make_bundle(["sleep", "100"], edit=_kmsg([{"allow": False, "access": "rwm"}])))
    for tool, name in _both(shim, runc, cid, rid):
        tool.ok("run", "-d", "--bundle", bundle, name)
        assert _probe(tool, name) == EPERM_BOTH, tool.binary
    updated = [
        tool("update", "--pids-limit", "42", name) for tool, name in _both(shim, runc, cid, rid)
    ]
    assert updated[0].code == updated[1].code, updated
    for tool, name in _both(shim, runc, cid, rid):
        if updated[1].code == 0:  # v2-only here has no pids controller: both refuse
            assert cgroup_file(pid_of(tool, name), "pids", "pids.max").strip() == "42"
        assert _probe(tool, name) == EPERM_BOTH, tool.binary


def test_access_letters_other_than_r_w_m_are_ignored_as_runc_does(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    """ "rwa" means "rw": the same node opens for reading and writing (and only the rule
    differs from the test above, so it is the rules that refused there)."""
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "rwa"},
    ]
    bundle = str(make_bundle(["sleep", "100"], edit=_kmsg(rules)))
    lists = []
    for tool, name in _both(shim, runc, cid, rid):
        tool.ok("run", "-d", "--bundle", bundle, name)
        assert _probe(tool, name) == ("read=0\nwrite=0\n", ""), tool.binary
        if not is_v2_only():
            devices = cgroup_file(pid_of(tool, name), "devices", "devices.list")
            lists.append(sorted(devices.splitlines()))
    if lists:
        assert "c 1:11 rw" in lists[1]
        assert lists[0] == lists[1]


@pytest.mark.parametrize("access", ["a", "xyz"])
def test_an_access_without_r_w_or_m_fails_create_as_in_runc(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str, access: str
) -> None:
    rules = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 11, "access": access},
    ]
    bundle = str(make_bundle(["true"], edit=_kmsg(rules)))
    results = [tool("run", "--bundle", bundle, n) for tool, n in _both(shim, runc, cid, rid)]
    # runc 1.1 fails it on v1 ("resulting devices cgroup doesn't precisely match target")
    # and on v2 attaches a rule that grants nothing; we refuse it on both, naming the field.
    assert results[1].code == (0 if is_v2_only() else 1), results[1]
    assert_fails(results[0], "linux.resources.devices[1].access")


def test_an_empty_access_fails_with_runcs_text(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str
) -> None:
    rules = [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c", "access": ""}]
    bundle = str(make_bundle(["true"], edit=_kmsg(rules)))
    for tool, name in _both(shim, runc, cid, rid):
        assert_fails(
            tool("run", "--bundle", bundle, name), "device access at 1 field cannot be empty"
        )
