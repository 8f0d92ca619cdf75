"""Fixtures of the containerd tests: one private containerd per test module."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Containerd, containerd_missing


@pytest.fixture(scope="module")
def containerd() -> Iterator[Containerd]:
    """A running containerd of our own, with the busybox and sandbox images imported."""
    reason = containerd_missing()
    if reason:
        pytest.skip(reason)
    # Not tmp_path: sockets live here, and unix socket paths must stay under 108 bytes.
    with tempfile.TemporaryDirectory(prefix="ctd-") as tmp, Containerd.started(Path(tmp)) as ctd:
        yield ctd
