"""Start-up tricks of the command line keep everything working afterwards."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from shim.cli.common import preload_msgspec
preload_msgspec()
assert "msgspec" in sys.modules
assert "typing_extensions" not in sys.modules, "msgspec pulled typing_extensions in"
from shim.spec.load import load_spec
spec = load_spec(b'{"process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}}')
assert spec.process is not None and spec.process.args == ["sh"]
import anyio  # noqa: F401
import typing_extensions  # the block is lifted: later imports get the real module
assert typing_extensions.__name__ == "typing_extensions"
print("ok")
"""


def test_preloading_msgspec_without_typing_extensions_keeps_both_usable() -> None:
    res = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "ok"


def test_bin_shim_exits_with_the_commands_status() -> None:
    from tests.conftest import SHIM

    res = subprocess.run(
        [SHIM, "no-such-command"], capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 3
    assert "No help topic for 'no-such-command'" in res.stderr
