"""Helpers for the checkpoint/restore tests: a criu that works here, the counter
container whose stdout is a pipe we read, and detached runs wired to that pipe."""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import TIMEOUT, Result, Shim

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "scripts" / "build-criu.sh"
BUILD_TIMEOUT = 900  # a first build on a fresh machine: apt-get, download, make
COUNTER = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i; sleep 0.2; done"]
# The counter plus a TCP connection over loopback inside the container's own netns.
TCP_COUNTER = [
    "sh",
    "-c",
    "sleep 1000 | nc -l -p 5000 >/dev/null & sleep 0.3; "
    "sleep 1000 | nc 127.0.0.1 5000 >/dev/null & "
    "i=0; while :; do i=$((i+1)); echo $i; sleep 0.2; done",
]

_criu: list[tuple[str, str]] = []  # (path or "", why not) once looked for


def find_criu() -> tuple[str, str]:
    """(path, "") of a criu that passes `criu check` here, built by scripts/build-criu.sh
    (cached), or ("", the reason) when this machine cannot have one."""
    if _criu:
        return _criu[0]
    if os.geteuid() != 0:
        found = ("", "needs root")
    elif os.environ.get("SHIM_TEST_CRIU"):
        found = (os.environ["SHIM_TEST_CRIU"], "")
    else:
        try:
            proc = subprocess.run(
                [str(BUILD)], capture_output=True, timeout=BUILD_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            found = ("", f"scripts/build-criu.sh took over {BUILD_TIMEOUT} s")
        else:
            lines = proc.stdout.decode().split()
            why = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
            found = (lines[-1], "") if proc.returncode == 0 and lines else ("", " | ".join(why))
    _criu.append(found)
    return found


class Pipe:
    """A pipe whose write end a container gets as stdout; we read numbers off the other."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe2(os.O_CLOEXEC)
        self.buffer = b""
        self.numbers: list[int] = []
        self.eof = False

    def close_writer(self) -> None:
        if self.w >= 0:
            os.close(self.w)
            self.w = -1

    def close(self) -> None:
        self.close_writer()
        if self.r >= 0:
            os.close(self.r)
            self.r = -1

    def _read(self, timeout: float) -> bool:
        """Read what is there within `timeout`; False at EOF or when nothing came."""
        if self.eof or not select.select([self.r], [], [], max(timeout, 0))[0]:
            return False
        chunk = os.read(self.r, 65536)
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        self.numbers += [int(line) for line in lines if line.strip().isdigit()]
        return True

    def wait_for(self, count: int, timeout: float = 10.0) -> list[int]:
        """Read until `count` numbers came (all of them so far are returned)."""
        deadline = time.monotonic() + timeout
        while len(self.numbers) < count:
            left = deadline - time.monotonic()
            if left <= 0 or (not self._read(left) and self.eof):
                pytest.fail(f"counter gave {self.numbers} (eof={self.eof}), wanted {count}")
        return self.numbers

    def wait_eof(self, timeout: float = 10.0) -> list[int]:
        """Read until every writer is gone (the counting processes are dead)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"the counter's pipe stayed open; it gave {self.numbers}")
            self._read(left)
        return self.numbers

    def quiet_for(self, seconds: float) -> bool:
        """True if no number came for `seconds` (a paused or stopped counter); what was
        written before the call is read first."""
        while self._read(0):
            pass
        before = len(self.numbers)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._read(deadline - time.monotonic())
        return len(self.numbers) == before


def drain(fd: int) -> bytes:
    """What a pipe holds now, without waiting for its writers to go."""
    data = b""
    while select.select([fd], [], [], 0)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return data


def with_criu(runtime: Shim, criu: str, *args: str, timeout: float = TIMEOUT) -> Result:
    """`runtime --criu CRIU ARGS` (runc's global flag; ours too), stdio as Shim gives it."""
    if args and args[0] == "restore":
        runtime.ids.add(args[-1])
    return runtime("--criu", criu, *args, timeout=timeout)


def detached(
    runtime: Shim, *args: str, stdout: int, criu: str = "", timeout: float = TIMEOUT
) -> Result:
    """`runtime [--criu CRIU] ARGS` with `stdout` as its (and so the container's) stdout,
    stdin /dev/null and stderr a pipe: criu dumps pipes, not host files. The runtime's
    own stderr is what the pipe holds once it has exited."""
    if args and args[0] in ("create", "run", "restore"):
        runtime.ids.add(args[-1])
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        proc = subprocess.run(
            runtime.argv(*(("--criu", criu) if criu else ()), *args),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=w,
            timeout=timeout,
            check=False,
        )
        os.close(w)
        w = -1
        return Result(proc.returncode, b"", drain(r))
    finally:
        if w >= 0:
            os.close(w)
        os.close(r)
