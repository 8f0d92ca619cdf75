"""`process.terminal`: the pty master over --console-socket, and foreground `run` on a tty."""

from __future__ import annotations

import fcntl
import os
import pty
import socket
import stat
import struct
import subprocess
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TIMEOUT, BundleFactory, Shim, needs_busybox, needs_root
from tests.integration._console import ConsoleListener, read_to_close, read_until

pytestmark = [needs_root, needs_busybox, pytest.mark.privileged, pytest.mark.timeout(60)]

PTY_MAJOR = 136  # /dev/pts/N (UNIX98_PTY_SLAVE_MAJOR)


def terminal(c: dict[str, Any]) -> None:
    c["process"]["terminal"] = True


def with_size(height: int, width: int) -> Callable[[dict[str, Any]], None]:
    def edit(c: dict[str, Any]) -> None:
        terminal(c)
        c["process"]["consoleSize"] = {"height": height, "width": width}

    return edit


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def gone(shim: Shim, cid: str) -> None:
    res = shim("state", cid)
    assert res.code == 1, res
    assert cid not in shim.ok("list", "-q").out.split()


@pytest.fixture
def console_path(tmp_path: Path) -> Path:
    return tmp_path / "console.sock"


def create_with_console(shim: Shim, bundle: Path, cid: str, listener: ConsoleListener) -> int:
    """`create --console-socket`; returns the pty master the listener received."""
    shim.ok("create", "--bundle", str(bundle), "--console-socket", str(listener.path), cid)
    return listener.take_master()


# -- the console socket ----------------------------------------------------------------------


def test_console_socket_gets_one_pty_master_named_dev_ptmx_then_eof(
    shim: Shim, make_bundle: BundleFactory, cid: str, console_path: Path
) -> None:
    bundle = make_bundle(["sh"], edit=terminal)
    with ConsoleListener(console_path) as listener:
        shim.ok("create", "--bundle", str(bundle), "--console-socket", str(console_path), cid)
        got = listener.received()
        assert got.data == b"/dev/ptmx"
        assert got.cmsgs == [(socket.SOL_SOCKET, socket.SCM_RIGHTS, 4)]
        assert len(got.fds) == 1
        assert got.eof, "the connection stays open after the one message"
        info = os.fstat(got.fds[0])
        assert stat.S_ISCHR(info.st_mode)
        assert (os.major(info.st_rdev), os.minor(info.st_rdev)) == (5, 2)  # a ptmx master
        assert os.readlink(f"/proc/self/fd/{got.fds[0]}").endswith("/ptmx")
    assert shim.state(cid)["status"] == "created"


def test_writing_to_the_master_reaches_the_shell(
    shim: Shim, make_bundle: BundleFactory, cid: str, console_path: Path
) -> None:
    bundle = make_bundle(["sh"], edit=terminal)
    with ConsoleListener(console_path) as listener:
        master = create_with_console(shim, bundle, cid, listener)
    try:
        shim.ok("start", cid)
        os.write(master, b"echo hi\n")
        # Termios defaults: the line is echoed, and ONLCR turns the output's \n into \r\n.
        seen = read_until(master, b"\r\nhi\r\n")
        assert b"echo hi\r\n" in seen
        os.write(master, b"exit 3\n")
        wait_for(lambda: shim.state(cid)["status"] == "stopped", "the shell to exit")
    finally:
        os.close(master)


def test_container_stdio_is_the_pty_with_the_configured_size(
    shim: Shim, make_bundle: BundleFactory, cid: str, console_path: Path
) -> None:
    script = (
        "tty; stty size; for fd in 0 1 2; do readlink /proc/self/fd/$fd; done;"
        " stat -c '%F %t' /dev/console"
    )
    bundle = make_bundle(["sh", "-c", script], edit=with_size(30, 100))
    with ConsoleListener(console_path) as listener:
        master = create_with_console(shim, bundle, cid, listener)
    try:
        shim.ok("start", cid)
        out = read_to_close(master).decode()
    finally:
        os.close(master)
    assert out.split("\r\n") == [
        "/dev/pts/0",
        "30 100",
        "/dev/pts/0",
        "/dev/pts/0",
        "/dev/pts/0",
        f"character special file {PTY_MAJOR:x}",  # stat %t is hex: 0x88 = 136
        "",
    ]
    wait_for(lambda: shim.state(cid)["status"] == "stopped", "the container to stop")


def test_create_without_console_socket_fails_clearly(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["sh"], edit=terminal)
    res = shim("create", "--bundle", str(bundle), cid)
    assert res.code == 1, res
    assert "cannot allocate tty if runc will detach without setting console socket" in res.err
    gone(shim, cid)


def test_console_socket_without_terminal_fails_clearly(
    shim: Shim, make_bundle: BundleFactory, cid: str, console_path: Path
) -> None:
    bundle = make_bundle(["sh"])
    with ConsoleListener(console_path):
        res = shim("create", "--bundle", str(bundle), "--console-socket", str(console_path), cid)
    assert res.code == 1, res
    assert "cannot use console socket if runc will not detach or allocate tty" in res.err
    gone(shim, cid)


def test_console_socket_nobody_listens_on_fails_clearly(
    shim: Shim, make_bundle: BundleFactory, cid: str, console_path: Path
) -> None:
    bundle = make_bundle(["sh"], edit=terminal)
    res = shim("create", "--bundle", str(bundle), "--console-socket", str(console_path), cid)
    assert res.code == 1, res
    assert f"dial unix {console_path}: connect: no such file or directory" in res.err
    gone(shim, cid)


# -- foreground run on our own pty ------------------------------------------------------------


def _become_tty_session_leader() -> None:
    """In the child: stdin (the pty slave) becomes the controlling tty of the new session."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class ForegroundRun:
    """`shim run` with a pty slave as stdio and controlling tty; the test holds the master."""

    def __init__(self, shim: Shim, bundle: Path, cid: str, rows: int, cols: int) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        shim.ids.add(cid)
        try:
            self.proc = subprocess.Popen(
                shim.argv("run", "--bundle", str(bundle), cid),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                start_new_session=True,
                preexec_fn=_become_tty_session_leader,
            )
        finally:
            os.close(slave)

    def wait(self) -> int:
        return self.proc.wait(timeout=TIMEOUT)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT)
        os.close(self.master)


def test_foreground_run_proxies_our_tty_and_returns_the_exit_status(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    script = "tty; stty size; read line; echo got:$line; exit 5"
    bundle = make_bundle(["sh", "-c", script], edit=terminal)
    run = ForegroundRun(shim, bundle, cid, rows=24, cols=91)
    try:
        seen = read_until(run.master, b"24 91\r\n")
        assert b"/dev/pts/0\r\n" in seen
        os.write(run.master, b"abc\r")
        seen += read_until(run.master, b"got:abc\r\n")
        assert run.wait() == 5
    finally:
        run.close()
    gone(shim, cid)


def test_foreground_run_without_a_controlling_tty_fails_clearly(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    bundle = make_bundle(["sh", "-c", "exit 0"], edit=terminal)
    shim.ids.add(cid)
    proc = subprocess.run(
        shim.argv("run", "--bundle", str(bundle), cid),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        start_new_session=True,  # no controlling tty, even when pytest has one
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 1, proc
    assert b"open /dev/tty: no such device or address" in proc.stderr
    gone(shim, cid)


def test_foreground_run_passes_a_window_resize_on(
    shim: Shim, make_bundle: BundleFactory, cid: str
) -> None:
    script = "stty -echo; stty size; while read line; do stty size; done"
    bundle = make_bundle(["sh", "-c", script], edit=terminal)
    run = ForegroundRun(shim, bundle, cid, rows=24, cols=80)
    try:
        read_until(run.master, b"24 80\r\n")
        # Resizing our pty sends SIGWINCH to `shim run`, the foreground process group; it
        # resizes the container's pty in turn. Ask for the size until the new one shows.
        fcntl.ioctl(run.master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        deadline = time.monotonic() + 10
        seen = b""
        while b"40 120\r\n" not in seen:
            assert time.monotonic() < deadline, f"the resize never reached the container: {seen!r}"
            os.write(run.master, b"\r")
            seen += read_until(run.master, b"\r\n")  # one line per line sent: no echo
        os.write(run.master, b"\x04")  # EOF ends the loop
        assert run.wait() == 0
    finally:
        run.close()
