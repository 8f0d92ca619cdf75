"""OCI mount options become mount(2) flags, propagation, recursive attributes or data."""

from __future__ import annotations

import json

import pytest

from shim.errors import Unsupported
from shim.init import mount_options as mo
from shim.spec import features_json


def test_flags_set_and_clear_in_order() -> None:
    opts = mo.parse_options(["ro", "nosuid", "rw", "nodev"], "mounts[0]")
    assert opts.flags == mo.MS_NOSUID | mo.MS_NODEV


def test_rbind_is_a_recursive_bind() -> None:
    assert mo.parse_options(["rbind"], "m").flags == mo.MS_BIND | mo.MS_REC


def test_propagation_is_kept_apart_from_flags() -> None:
    opts = mo.parse_options(["bind", "rslave"], "m")
    assert opts.flags == mo.MS_BIND
    assert opts.propagation == mo.MS_SLAVE | mo.MS_REC


def test_recursive_attributes_go_to_mount_setattr() -> None:
    opts = mo.parse_options(["rro", "rnosuid", "rnoatime"], "m")
    assert opts.attr_set == mo.MOUNT_ATTR_RDONLY | mo.MOUNT_ATTR_NOSUID | mo.MOUNT_ATTR_NOATIME
    assert opts.attr_clr == mo.MOUNT_ATTR__ATIME


def test_unknown_options_are_filesystem_data() -> None:
    assert mo.parse_options(["mode=755", "size=65536k", "nosuid"], "m").data == [
        "mode=755",
        "size=65536k",
    ]


@pytest.mark.parametrize("option", ["idmap", "ridmap"])
def test_refused_options_are_explicit_errors_naming_the_mount(option: str) -> None:
    with pytest.raises(Unsupported, match=r"mounts\[3\]"):
        mo.parse_options([option], "mounts[3]")


def test_features_list_only_mount_options_the_runtime_accepts() -> None:
    listed = set(json.loads(features_json())["mountOptions"])
    assert listed <= set(mo.FLAGS) | set(mo.PROPAGATION) | set(mo.RECURSIVE) | {"tmpcopyup"}
    assert not listed & set(mo.REFUSED)


def test_tmpcopyup_is_an_extension_not_filesystem_data() -> None:
    opts = mo.parse_options(["tmpcopyup", "mode=755"], "mounts[0]")
    assert opts.copyup
    assert opts.data == ["mode=755"]
