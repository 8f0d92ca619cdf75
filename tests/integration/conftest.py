"""Fixtures of the integration tests that need more than tests/conftest.py: criu."""

from __future__ import annotations

import pytest

from tests.integration._criu import find_criu


@pytest.fixture(scope="session")
def criu() -> str:
    """A criu that works on this kernel (scripts/build-criu.sh builds it once, cached);
    the test is skipped, saying why, only when this machine cannot build one."""
    path, why = find_criu()
    if not path:
        pytest.skip(f"criu cannot be had on this machine: {why}")
    return path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line on the criu the checkpoint tests used, or why they were skipped."""
    from tests.integration._criu import _criu

    if _criu:
        path, why = _criu[0]
        status = f"criu: {path}" if path else f"criu: SKIPPED the checkpoint/restore tests ({why})"
        terminalreporter.write_line(status)
