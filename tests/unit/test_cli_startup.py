"""How the `shim` command starts: lean (-IS, no `site`) yet with everything it imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import SHIM

BIN_SHIM = Path(__file__).parents[2] / "bin" / "shim"


def _lean_copy(tmp_path: Path) -> Path:
    script = tmp_path / "shim"
    text = BIN_SHIM.read_text().replace("#!python\n", f"#!{sys.executable}\n", 1)
    script.write_text(text)  # as pip installs it
    script.chmod(0o755)
    done = subprocess.run(
        [sys.executable, "-m", "shim.launcher", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return script


def test_bin_shim_exits_with_the_commands_status() -> None:
    res = subprocess.run(
        [SHIM, "no-such-command"], capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 3
    assert "No help topic for 'no-such-command'" in res.stderr


def test_the_launcher_starts_python_with_isolation_and_no_site(tmp_path: Path) -> None:
    script = _lean_copy(tmp_path)
    first = script.read_text().split("\n", 1)[0]
    assert first == f"#!{sys.executable} -IS"
    version = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=True
    )
    assert version.stdout.startswith("shim version ")
    traced = subprocess.run(
        [sys.executable, "-IS", "-X", "importtime", str(script), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in traced.stderr.splitlines()}
    assert "shim.cli.dispatch" in imported
    assert not imported & {"site", "_distutils_hack", "sitecustomize"}


def test_the_launcher_is_idempotent(tmp_path: Path) -> None:
    script = _lean_copy(tmp_path)
    once = script.read_text()
    subprocess.run([sys.executable, "-m", "shim.launcher", str(script)], timeout=60, check=True)
    assert script.read_text() == once
    assert once.count("set by shim.launcher") == 1


def test_the_launcher_leaves_a_script_it_cannot_make_lean(tmp_path: Path) -> None:
    script = tmp_path / "shim"
    shutil.copy(BIN_SHIM, script)
    text = script.read_text().replace("#!python\n", "#!/bin/sh\n", 1)  # pip's trampoline
    script.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "shim.launcher", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "left as it was" in done.stderr
    assert script.read_text() == text
