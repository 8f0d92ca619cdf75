"""features_json: runc's document shape, with what shim implements."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

import shim
from shim.spec import features_json
from shim.spec.caps import CAP_NAMES
from shim.spec.kernel_names import NAMESPACES


def test_features_is_4_space_indented_with_a_final_newline() -> None:
    raw = features_json()
    assert raw.startswith(b'{\n    "ociVersionMin": "1.0.0",\n    "ociVersionMax": "1.0.2-dev",\n')
    assert raw.endswith(b"}\n}\n")


def test_features_states_our_support() -> None:
    doc = json.loads(features_json())
    linux = doc["linux"]
    assert len(doc["hooks"]) == 6
    assert linux["namespaces"] == [
        "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
    ]  # fmt: skip
    assert set(linux["namespaces"]) <= set(NAMESPACES)  # validate_spec accepts each one
    assert linux["capabilities"] == list(CAP_NAMES)
    assert linux["cgroup"] == {"v1": True, "v2": True, "systemd": False, "systemdUser": False}
    assert linux["seccomp"]["enabled"] is True
    assert "SCMP_ACT_NOTIFY" in linux["seccomp"]["actions"]
    assert "SCMP_CMP_MASKED_EQ" in linux["seccomp"]["operators"]
    assert linux["apparmor"] == {"enabled": True}  # supported (runc's meaning), not "on here"
    assert linux["selinux"] == {"enabled": True}
    assert doc["annotations"]["org.opencontainers.runc.version"] == shim.__version__
    assert doc["annotations"].get("io.github.seccomp.libseccomp.version", "2").startswith("2")


def test_features_keys_and_mount_options_follow_runc() -> None:
    runc = shutil.which("runc")
    if runc is None:
        pytest.skip("runc is not installed to compare with")
    theirs = json.loads(
        subprocess.run([runc, "features"], capture_output=True, check=True, timeout=20).stdout
    )
    ours = json.loads(features_json())
    assert list(ours) == list(theirs)
    assert list(ours["linux"]) == list(theirs["linux"])
    assert list(ours["linux"]["cgroup"]) == list(theirs["linux"]["cgroup"])
    assert ours["hooks"] == theirs["hooks"]
    assert ours["mountOptions"] == theirs["mountOptions"]  # runc's 62 names
    assert ours["linux"]["capabilities"] == theirs["linux"]["capabilities"]
