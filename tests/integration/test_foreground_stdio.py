"""Foreground `run` and `exec` never hand the runtime's own stdio to the container.

runc's foreground gives the process pipes (or, with a terminal, a pty) and copies them
to its own stdin/stdout/stderr, whatever those are; only `--detach` passes its fds
through. So a host terminal given to `run` never reaches the container (no TIOCSTI into
the host's shell), and `out=$(runc run ...)` under a terminal captures the output.
Each case runs runc on the same input and compares.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TIMEOUT, BundleFactory, Shim, needs_busybox, needs_root

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(90)]

# What the process sees as its stdio: a pipe, a file, or a terminal (/dev/pts/N).
PROBE = 'for fd in 0 1 2; do if [ -t $fd ]; then echo "$fd:tty"; else echo "$fd:notty"; fi; done'


def terminal(config: dict[str, Any]) -> None:
    config["process"]["terminal"] = True


def run_on_a_tty(runtime: Shim, argv: list[str], *, stdout_pipe: bool) -> tuple[int, bytes, bytes]:
    """Run `runtime argv` with a pty slave as stdin, stderr and controlling terminal, and
    stdout a pipe (as `out=$(...)` in an interactive shell) or the pty too. Returns the
    exit code, what came through the stdout pipe, and what came through the pty."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        runtime.argv(*argv),
        stdin=slave,
        stdout=subprocess.PIPE if stdout_pipe else slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=lambda: __import__("fcntl").ioctl(0, __import__("termios").TIOCSCTTY, 0),
    )
    os.close(slave)
    tty_out = b""
    try:
        out = proc.stdout.read() if proc.stdout is not None else b""
        code = proc.wait(timeout=TIMEOUT)
        # Drain until EIO (every slave closed): the pty hands written bytes over to the
        # master from a kernel work item, so they may arrive after the writer has exited.
        while select.select([master], [], [], 2.0)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            tty_out += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)
        os.close(master)
    return code, out, tty_out


@pytest.mark.parametrize("runtime_name", ["shim", "runc"])
def test_foreground_run_gives_the_process_pipes_not_our_terminal(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str, runtime_name: str
) -> None:
    runtime, name = (shim, cid) if runtime_name == "shim" else (runc, rid)
    bundle = make_bundle(["sh", "-c", PROBE])
    runtime.ids.add(name)
    argv = ["run", "--bundle", str(bundle), name]
    code, _, tty_out = run_on_a_tty(runtime, argv, stdout_pipe=False)
    assert code == 0, tty_out
    # no fd of the process is our terminal: its output came through the runtime's copy
    assert tty_out.split() == [b"0:notty", b"1:notty", b"2:notty"], tty_out


def test_detached_run_passes_our_stdio_through_as_runc_does(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str, tmp_path: Path
) -> None:
    for runtime, name in ((shim, cid), (runc, rid)):
        out = tmp_path / f"{name}.out"
        bundle = make_bundle(["sh", "-c", "ls -l /proc/self/fd/1"], name=f"b-{name}")
        runtime.ids.add(name)
        with out.open("wb") as f:
            proc = subprocess.run(
                runtime.argv("run", "-d", "--bundle", str(bundle), name),
                stdin=subprocess.DEVNULL,
                stdout=f,
                stderr=subprocess.PIPE,
                timeout=TIMEOUT,
                check=False,
            )
        assert proc.returncode == 0, proc.stderr
        deadline_ok = False
        for _ in range(500):
            if str(out) in out.read_text():
                deadline_ok = True
                break
            __import__("time").sleep(0.01)
        assert deadline_ok, f"{runtime.binary}: {out.read_text()!r}"  # our own file, passed on


@pytest.mark.parametrize("runtime_name", ["shim", "runc"])
def test_foreground_run_with_a_terminal_writes_to_our_stdout_even_when_it_is_a_pipe(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str, runtime_name: str
) -> None:
    runtime, name = (shim, cid) if runtime_name == "shim" else (runc, rid)
    bundle = make_bundle(["sh", "-c", "echo from-the-container; exit 3"], edit=terminal)
    runtime.ids.add(name)
    code, out, tty_out = run_on_a_tty(
        runtime, ["run", "--bundle", str(bundle), name], stdout_pipe=True
    )
    assert code == 3, (out, tty_out)
    assert b"from-the-container" in out, (out, tty_out)  # captured, as `out=$(...)` wants
    assert b"from-the-container" not in tty_out


@pytest.mark.parametrize("runtime_name", ["shim", "runc"])
def test_foreground_exec_gives_the_process_pipes_not_our_terminal(
    shim: Shim, runc: Shim, make_bundle: BundleFactory, cid: str, rid: str, runtime_name: str
) -> None:
    runtime, name = (shim, cid) if runtime_name == "shim" else (runc, rid)
    bundle = make_bundle(["sleep", "100"])
    runtime.ok("run", "-d", "--bundle", str(bundle), name)
    code, out, tty_out = run_on_a_tty(runtime, ["exec", name, "sh", "-c", PROBE], stdout_pipe=True)
    assert code == 0, (out, tty_out)
    assert out.split() == [b"0:notty", b"1:notty", b"2:notty"]


def test_foreground_run_copies_stdin_to_the_process_and_ends_it_with_eof(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["sh", "-c", "wc -c; echo err >&2"])
    shim.ids.add(cid)
    proc = subprocess.run(
        shim.argv("run", "--bundle", str(bundle), cid),
        input=b"x" * 300_000,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc
    assert proc.stdout.strip() == b"300000"
    assert proc.stderr == b"err\n"
