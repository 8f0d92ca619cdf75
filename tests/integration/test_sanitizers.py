"""The helper's C under AddressSanitizer and UBSan: the main paths, the error paths.

A sanitizer build (dynamic, -fno-sanitize-recover) replaces the packaged helper
through SHIM_INIT_HELPER; any report aborts the helper, so the container fails.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BundleFactory, Shim, needs_busybox, needs_root
from tests.integration._runc_compare import pid_of

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.slow]

CSRC = Path(__file__).resolve().parents[2] / "csrc"
FLAGS = ["-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wformat=2"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


@pytest.fixture(scope="module")
def asan_helper(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("asan") / "shim-init-asan"
    # The helper runs with an empty environment, so ASAN_OPTIONS cannot reach it. Leak
    # checking stays off: LeakSanitizer ptraces the exiting process, which our
    # non-dumpable stages refuse, and it then spins forever.
    options = out.with_name("asan_options.c")
    options.write_text(
        "const char *__asan_default_options(void);\n"
        'const char *__asan_default_options(void) { return "detect_leaks=0"; }\n'
    )
    sources = [*sorted(str(p) for p in CSRC.glob("*.c")), str(options)]
    res = subprocess.run(
        ["gcc", *FLAGS, *SANITIZE, "-o", str(out), *sources],
        capture_output=True,
        timeout=120,
        check=False,
    )
    if res.returncode != 0 and b"asan" in res.stderr.lower():
        pytest.skip(f"no sanitizer runtime: {res.stderr.decode()[-200:]}")
    assert res.returncode == 0, res.stderr.decode()
    return str(out)


@pytest.fixture
def sanitized(asan_helper: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SHIM_INIT_HELPER", asan_helper)
    return asan_helper


def test_the_sanitized_helper_is_what_runs(
    sanitized: str, shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    """SHIM_INIT_HELPER is honoured: the created init (our helper, waiting on the fifo) is a
    sealed copy of the sanitizer build, byte for byte, with the ASan runtime mapped."""
    shim.ok("create", "--bundle", str(make_bundle(["true"])), cid)
    pid = pid_of(shim, cid)
    assert os.readlink(f"/proc/{pid}/exe").startswith("/memfd:")
    assert _sha256(f"/proc/{pid}/exe") == _sha256(sanitized)
    assert "libasan" in Path(f"/proc/{pid}/maps").read_text()


def test_an_override_others_may_write_is_refused(
    asan_helper: str,
    shim: Shim,
    make_bundle: BundleFactory,
    cid: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loose = tmp_path / "shim-init-loose"
    shutil.copy(asan_helper, loose)
    loose.chmod(0o777)
    monkeypatch.setenv("SHIM_INIT_HELPER", str(loose))
    res = shim("run", "--bundle", str(make_bundle(["true"])), cid)
    assert res.code == 1, res
    assert "not a regular file only root may write" in res.err


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _clean(err: str) -> None:
    assert "AddressSanitizer" not in err, err
    assert "runtime error:" not in err, err


def test_a_container_runs_under_sanitizers(
    sanitized: str, shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    def edit(config: dict[str, object]) -> None:
        config["hostname"] = "asan"
        config["mounts"].append(  # type: ignore[attr-defined]
            {"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}
        )

    bundle = make_bundle(["sh", "-c", "hostname; echo x > /data/f; cat /data/f; exit 5"], edit)
    res = shim("run", "--bundle", str(bundle), cid)
    _clean(res.err)
    assert res.code == 5, res
    assert res.out.split() == ["asan", "x"]


def test_helper_error_paths_run_clean_under_sanitizers(
    sanitized: str, shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["/no/such/binary"])
    res = shim("run", "--bundle", str(bundle), cid)
    _clean(res.err)
    assert res.code == 1
    assert "no such file or directory" in res.err.lower()


def test_hooks_in_the_helper_run_clean_under_sanitizers(
    sanitized: str, shim: Shim, make_bundle: BundleFactory, cid: str, tmp_path: Path
) -> None:
    marker = tmp_path / "hook-ran"

    def edit(config: dict[str, object]) -> None:
        config["hooks"] = {
            "createContainer": [
                {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {marker}"], "timeout": 5}
            ],
        }

    bundle = make_bundle(["true"], edit)
    res = shim("run", "--bundle", str(bundle), cid)
    _clean(res.err)
    assert res.code == 0, res
    assert '"status":"creating"' in marker.read_text()
    assert os.path.exists(marker)


def test_shim_init_helper_names_the_helper_that_runs(
    shim: Shim, make_bundle: BundleFactory, cid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sanitizer runs above mean something only if SHIM_INIT_HELPER is honoured."""
    monkeypatch.setenv("SHIM_INIT_HELPER", "/nonexistent/shim-init-test")
    res = shim("run", "--bundle", str(make_bundle(["true"])), cid)
    assert res.code == 1, res
    assert "init helper /nonexistent/shim-init-test: No such file or directory" in res.err
