"""A helper program run through the supervisor's reaper keeps its exit status, even with
the orphan reaper at work (anyio.run_process's own waitpid would race it)."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from shim.supervisor.run_process import run_process
from shim.supervisor.supervisor import Supervisor
from tests.conftest import needs_root

pytestmark = [needs_root, pytest.mark.anyio]


async def test_statuses_and_stderr_survive_the_orphan_reaper(
    tmp_path: Path, anyio_backend: str
) -> None:
    async with Supervisor.open(str(tmp_path)) as sup:
        with anyio.fail_after(30):
            for code in (0, 3, 7) * 5:
                script = f"import sys; sys.stderr.write(sys.stdin.read()); sys.exit({code})"
                exit_, err = await run_process(
                    sup.reaper, [sys.executable, "-c", script], input=b"hello"
                )
                assert (exit_.status, err) == (code, b"hello")
                sup.reaper.reap_orphans()  # what a SIGCHLD does: it must not steal them
