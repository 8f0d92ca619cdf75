"""state.json is decoded field by field with its types checked: a corrupt file is an
Internal error naming it, never a half-typed State."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shim.errors import Internal
from shim.runtime.state_store import State

GOOD: dict[str, Any] = {
    "id": "c1",
    "pid": 42,
    "start_time": 1234,
    "created": "2026-12-03T12:00:00Z",
    "bundle": "/b",
    "rootfs": "/b/rootfs",
    "annotations": {"a": "b"},
    "cgroup_paths": {"": "/sys/fs/cgroup/c1"},
    "cgroup_created": ["/sys/fs/cgroup/c1"],
    "namespace_paths": {"pid": "/proc/42/ns/pid"},
    "keyring": "_ses.c1",
    "config": {"ociVersion": "1.0.2"},
}


def test_a_good_state_round_trips() -> None:
    state = State.from_json(json.dumps(GOOD).encode(), "/run/shim/c1")
    assert state.pid == 42
    assert State.from_json(state.to_json().encode(), "x").annotations == {"a": "b"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pid", "42"),
        ("pid", True),
        ("start_time", 1.5),
        ("annotations", {"a": 1}),
        ("cgroup_paths", ["x"]),
        ("cgroup_created", [1]),
        ("keyring", None),
        ("config", []),
    ],
)
def test_a_field_of_the_wrong_type_is_an_internal_error(field: str, value: object) -> None:
    with pytest.raises(Internal, match=f"/run/shim/c1: corrupt state file: {field}"):
        State.from_json(json.dumps({**GOOD, field: value}).encode(), "/run/shim/c1")


def test_missing_or_extra_keys_are_refused() -> None:
    data = {k: v for k, v in GOOD.items() if k != "rootfs"}
    with pytest.raises(Internal, match="unexpected keys"):
        State.from_json(json.dumps(data).encode(), "x")
    with pytest.raises(Internal, match="unexpected keys"):
        State.from_json(json.dumps({**GOOD, "extra": 1}).encode(), "x")
