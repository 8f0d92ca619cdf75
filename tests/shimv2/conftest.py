"""shimv2 tests read what the shim logs on stderr: give each a fresh stderr logger, so that
a logger another test configured (a --log file since closed, another level) is not used."""

from __future__ import annotations

import pytest

from shim import logs


@pytest.fixture(autouse=True)
def stderr_logger(monkeypatch: pytest.MonkeyPatch) -> logs.Logger:
    logger = logs.Logger(2, "text", "info", False)
    monkeypatch.setattr(logs, "_current", logger)
    return logger
