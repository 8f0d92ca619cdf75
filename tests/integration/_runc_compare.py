"""Helpers for the integration tests: runc side by side, log parsing, bounded waits, leaks.

Nothing here starts containers by itself; the tests do, through the `shim` fixture
(and a `runc` fixture built on the same `Shim` class with runc's binary).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, Shim

RUNC = shutil.which("runc")
needs_runc = pytest.mark.skipif(
    RUNC is None, reason="runc is not installed: nothing to compare with"
)

# Go's time.RFC3339Nano as encoding/json prints a UTC time: trailing zeros of the
# fraction trimmed, no fraction at all when it is zero.
GO_RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z$")
# logrus's JSON formatter: seconds precision, UTC.
LOGRUS_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
_LOGRUS_MSG = re.compile(r'level=(\w+) msg=("(?:[^"\\]|\\.)*"|\S+)')


def wait_until(what: str, cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `cond` every 20 ms until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def status(shim: Shim, cid: str) -> str:
    res = shim("state", cid)
    if res.code != 0:
        return f"<state failed: {res.err.strip()}>"
    value = json.loads(res.out)["status"]
    assert isinstance(value, str)
    return value


def wait_status(shim: Shim, cid: str, want: str, timeout: float = 10.0) -> None:
    wait_until(f"{cid} to be {want}", lambda: status(shim, cid) == want, timeout)


def pid_of(shim: Shim, cid: str) -> int:
    pid = shim.state(cid)["pid"]
    assert isinstance(pid, int)
    return pid


def process_gone(pid: int) -> bool:
    """No such process, or only a zombie (our parent may be slow to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return raw.decode(errors="replace").split("\0")[:-1]


def error_messages(stderr: str) -> list[str]:
    """The `msg` of every logrus text line on stderr, Go-unquoted."""
    found = []
    for match in _LOGRUS_MSG.finditer(stderr):
        raw = match.group(2)
        found.append(json.loads(raw) if raw.startswith('"') else raw)
    return found


def assert_fails(res: Result, text: str, code: int = 1) -> None:
    """The command failed with `code` and an error line whose message contains `text`."""
    assert res.code == code, res
    messages = error_messages(res.err)
    assert any(text in m for m in messages), f"{text!r} not in error messages {messages}; {res}"


def pid_only_procfs(path: str) -> bool:
    """Whether `path` (e.g. /proc/PID/fd/N) is the root of a procfs mounted with
    subset=pid: the helper holds one to reopen the exec fifo (issue 16 #3), and it shows
    only pid directories, self and thread-self (no sys/, no sysrq-trigger)."""
    try:
        names = set(os.listdir(path))
    except OSError:
        return False
    return {"self", "thread-self"} <= names and all(
        n.isdigit() or n in ("self", "thread-self") for n in names
    )


def processes_using(prefix: str) -> list[str]:
    """Live processes whose root, cwd or an open fd points below `prefix` (leak check)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or process_gone(int(entry.name)):
            continue
        links = [f"{entry.path}/root", f"{entry.path}/cwd"]
        try:
            links += [f"{entry.path}/fd/{fd}" for fd in os.listdir(f"{entry.path}/fd")]
        except OSError:
            pass
        for link in links:
            try:
                target = os.readlink(link)
            except OSError:
                continue
            if target == prefix or target.startswith(prefix + "/"):
                found.append(f"{entry.name} ({link} -> {target})")
    return found


def key_types(data: dict[str, object]) -> list[tuple[str, str]]:
    """(key, JSON type) pairs in document order: what a client decoding the object sees."""
    names = {bool: "bool", int: "number", float: "number", str: "string", list: "array"}
    names.update({dict: "object", type(None): "null"})
    return [(k, names[type(v)]) for k, v in data.items()]


def tabwriter(rows: list[list[str]], minwidth: int = 12, padding: int = 3) -> str:
    """Go's text/tabwriter as runc's `list` uses it: every cell but the last is tab-terminated."""
    ncols = len(rows[0]) - 1
    widths = [max(minwidth, *(len(r[i]) + padding for r in rows)) for i in range(ncols)]
    return "".join(
        "".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + r[-1] + "\n"
        for r in rows
    )
