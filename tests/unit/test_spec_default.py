"""default_config is byte for byte `runc spec`; busybox_bundle makes a runnable bundle."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shim.errors import InvalidConfig
from shim.spec import busybox as busybox_module
from shim.spec import busybox_bundle, default_config, load_spec, validate_spec
from shim.spec.default import cgroup2_unified

RUNC = shutil.which("runc")
_needs_runc = pytest.mark.skipif(RUNC is None, reason="runc is not installed to compare with")
_needs_busybox = pytest.mark.skipif(
    not os.access("/bin/busybox", os.X_OK), reason="no /bin/busybox (Debian busybox-static)"
)


def _runc_spec(tmp_path: Path, *flags: str) -> bytes:
    assert RUNC is not None
    subprocess.run([RUNC, "spec", *flags], cwd=tmp_path, check=True, timeout=20)
    return (tmp_path / "config.json").read_bytes()


@_needs_runc
def test_default_config_is_what_runc_spec_writes(tmp_path: Path) -> None:
    assert default_config(rootless=False) == _runc_spec(tmp_path)


@_needs_runc
def test_rootless_default_config_is_what_runc_spec_rootless_writes(tmp_path: Path) -> None:
    assert default_config(rootless=True) == _runc_spec(tmp_path, "--rootless")


def test_default_config_is_tab_indented_without_final_newline() -> None:
    raw = default_config(rootless=False)
    assert raw.startswith(b'{\n\t"ociVersion": "1.0.2-dev",\n\t"process": {\n\t\t"terminal": true')
    assert raw.endswith(b"\n\t}\n}")
    # runc 1.1.5's size (a cgroup namespace more on a cgroup-v2-only host)
    assert len(raw) == (2592 if cgroup2_unified() else 2560)


def test_rootless_config_maps_our_ids_and_drops_what_needs_privilege() -> None:
    config = json.loads(default_config(rootless=True))
    linux = config["linux"]
    assert linux["uidMappings"] == [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
    assert linux["gidMappings"] == [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
    assert list(linux)[:2] == ["uidMappings", "gidMappings"]
    assert "resources" not in linux
    cgroupns = ["cgroup"] if cgroup2_unified() else []  # runc adds it on a v2-only host
    kinds = [ns["type"] for ns in linux["namespaces"]]
    assert kinds == ["pid", "ipc", "uts", "mount", *cgroupns, "user"]
    options = [opt for mount in config["mounts"] for opt in mount.get("options", [])]
    assert not [opt for opt in options if opt.startswith(("uid=", "gid="))]
    sys_mount = next(m for m in config["mounts"] if m["destination"] == "/sys")
    assert sys_mount == {
        "destination": "/sys",
        "type": "none",
        "source": "/sys",
        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
    }


def test_default_config_imports_no_msgspec() -> None:
    code = "import sys, shim.spec; shim.spec.default_config(True); print('msgspec' in sys.modules)"
    env = os.environ | {"PYTHONPATH": str(Path(__file__).parents[2])}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=20
    )
    assert out.stdout.strip() == "False", out.stderr


@_needs_busybox
def test_busybox_bundle_makes_a_valid_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    busybox_bundle(str(bundle), ["sleep", "10"])
    rootfs = bundle / "rootfs"
    assert (rootfs / "bin/sh").is_symlink()
    assert os.readlink(rootfs / "bin/sh") == "busybox"
    assert (rootfs / "bin/sleep").resolve() == (rootfs / "bin/busybox").resolve()
    assert not (rootfs / "bin/busybox").is_symlink()
    assert os.stat(rootfs / "bin/busybox").st_ino != os.stat("/bin/busybox").st_ino
    for name in ("dev", "proc", "sys", "tmp", "etc", "root", "run", "var/tmp", "usr/bin"):
        assert (rootfs / name).is_dir(), name
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert (rootfs / "etc/passwd").read_text().startswith("root:x:0:0:root:/root:/bin/sh\n")
    assert "nogroup:x:65534:\n" in (rootfs / "etc/group").read_text()
    spec = load_spec((bundle / "config.json").read_bytes())
    validate_spec(spec)
    assert spec.process is not None
    assert spec.process.args == ["sleep", "10"]
    assert not spec.process.terminal
    assert spec.root is not None
    assert spec.root.readonly


@_needs_busybox
def test_busybox_bundle_runs_sh_by_default(tmp_path: Path) -> None:
    busybox_bundle(str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_bytes())
    assert config["process"]["args"] == ["sh"]
    assert config["process"]["terminal"] is False


def test_busybox_bundle_without_busybox_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(busybox_module, "BUSYBOX", str(tmp_path / "no-busybox"))
    with pytest.raises(InvalidConfig, match="busybox-static"):
        busybox_bundle(str(tmp_path / "bundle"))
    assert not (tmp_path / "bundle").exists()
