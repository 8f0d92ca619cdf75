"""shimv2 tests read what the shim logs on stderr: give each a fresh stderr logger, so that
a logger another test configured (a --log file since closed, another level) is not used."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shim import logs

from ._shim_env import TIMEOUT, Env, daemons_of


@pytest.fixture(autouse=True)
def stderr_logger(monkeypatch: pytest.MonkeyPatch) -> logs.Logger:
    logger = logs.Logger(2, "text", "info", False)
    monkeypatch.setattr(logs, "_current", logger)
    return logger


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    """A fake containerd address under tmp_path; afterwards every daemon started for it
    is killed (and must be gone) and the sockets its starts printed are removed."""
    e = Env(tmp_path)
    yield e
    for pid in daemons_of(e.address):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + TIMEOUT
    while daemons_of(e.address) and time.monotonic() < deadline:
        time.sleep(0.01)
    for sock in e.sockets:
        if os.path.exists(sock):
            os.unlink(sock)
    assert daemons_of(e.address) == [], "shim daemons left running"
