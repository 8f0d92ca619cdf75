"""AppArmor and SELinux labels as runc 1.1.5 applies them. This host has neither LSM: the
refusals are tested for real, side by side with runc; the writes themselves against a
stand-in for /proc (SHIM_TEST_PROC_ATTR, tests only), read back from the host."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shim.init.lsm import TEST_ATTR_ROOT_ENV
from tests.conftest import BundleFactory, Shim, needs_busybox, needs_root
from tests.integration._runc_compare import assert_fails, needs_runc

pytestmark = [needs_root, needs_busybox, needs_runc, pytest.mark.privileged]

PROFILE = "shim-test-profile"
LABEL = "system_u:system_r:container_t:s0:c1,c2"
FILE_LABEL = "system_u:object_r:container_file_t:s0:c1,c2"
Edit = Callable[[dict[str, Any]], None]


def _process(**fields: str) -> Edit:
    def edit(c: dict[str, Any]) -> None:
        c["process"].update(fields)

    return edit


def _mount_label(c: dict[str, Any]) -> None:
    c["linux"]["mountLabel"] = FILE_LABEL


def _attr_root(tmp_path: Path, apparmor_dir: bool = True) -> Path:
    """A directory laid out like /proc for the helper's writes: thread-self/attr/..."""
    root = tmp_path / "proc-stand-in"
    attr = root / "thread-self/attr"
    (attr / "apparmor").mkdir(parents=True) if apparmor_dir else attr.mkdir(parents=True)
    names = ["exec", "keycreate"] + (["apparmor/exec"] if apparmor_dir else [])
    for name in names:
        (attr / name).write_text("")
    return root


def _read(root: Path) -> dict[str, str]:
    attr = root / "thread-self/attr"
    return {str(p.relative_to(attr)): p.read_text() for p in sorted(attr.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("edit", "text"),
    [
        pytest.param(
            _process(apparmorProfile=PROFILE),
            "apparmor failed to apply profile: write /proc/",
            id="apparmorProfile",
        ),
        pytest.param(
            _process(selinuxLabel=LABEL),
            "selinux label is specified in config, but selinux is disabled or not supported",
            id="selinuxLabel",
        ),
        pytest.param(_mount_label, "nvalid argument", id="mountLabel"),
    ],
)
def test_a_label_on_a_host_without_the_lsm_fails_as_in_runc(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str, edit: Edit, text: str
) -> None:
    """AppArmor: the kernel refuses the write of the exec attribute; SELinux: runc's own
    check; mountLabel: the kernel refuses the `context=` mount option (the same bundle
    without the label runs)."""
    bundle = str(make_bundle(["true"], edit=edit))
    assert_fails(runc("run", "--bundle", bundle, rid), text)
    assert_fails(shim("run", "--bundle", bundle, cid), text)
    plain = make_bundle(["true"], name="plain")
    assert shim("run", "--bundle", str(plain), cid).code == 0


@pytest.mark.parametrize("apparmor_dir", [True, False], ids=["attr-apparmor", "attr-shared"])
def test_labels_are_written_to_the_threads_attr_files_before_exec(
    shim: Shim,
    make_bundle: BundleFactory,
    cid: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    apparmor_dir: bool,
) -> None:
    """With a stand-in for /proc: "exec <profile>" goes to attr/apparmor/exec (attr/exec on
    kernels without the subdirectory), the SELinux label to attr/keycreate and attr/exec."""
    root = _attr_root(tmp_path, apparmor_dir)
    monkeypatch.setenv(TEST_ATTR_ROOT_ENV, str(root))
    edit = _process(apparmorProfile=PROFILE, selinuxLabel=LABEL)
    res = shim("run", "--bundle", str(make_bundle(["true"], edit=edit)), cid)
    assert res.code == 0, res
    if apparmor_dir:
        assert _read(root) == {
            "apparmor/exec": f"exec {PROFILE}",
            "exec": LABEL,
            "keycreate": LABEL,
        }
    else:  # both LSMs share attr/exec then: SELinux writes last, as in runc
        assert _read(root) == {"exec": LABEL, "keycreate": LABEL}


def test_exec_applies_the_containers_labels_or_the_flags(
    shim: Shim,
    make_bundle: BundleFactory,
    cid: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = _attr_root(tmp_path)
    monkeypatch.setenv(TEST_ATTR_ROOT_ENV, str(root))
    edit = _process(apparmorProfile=PROFILE, selinuxLabel=LABEL)
    shim.ok("run", "-d", "--bundle", str(make_bundle(["sleep", "100"], edit=edit)), cid)
    for name in ("apparmor/exec", "exec", "keycreate"):
        (root / "thread-self/attr" / name).write_text("")
    shim.ok("exec", cid, "true")
    assert _read(root)["apparmor/exec"] == f"exec {PROFILE}"
    assert _read(root)["exec"] == LABEL
    for name in ("apparmor/exec", "exec", "keycreate"):
        (root / "thread-self/attr" / name).write_text("")
    shim.ok("exec", "--apparmor", "other", "--process-label", "x:y:z:s0", cid, "true")
    # exec joins the container's session keyring: runc labels it too
    assert _read(root) == {
        "apparmor/exec": "exec other",
        "exec": "x:y:z:s0",
        "keycreate": "x:y:z:s0",
    }
