"""ProcessIO: a real process's stdio wired to fifos, files and a pty the way containerd asks."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process

from shim.errors import ShimError, Unsupported
from shim.io.fds import close_fd
from shim.io.process_io import ProcessIO, Stdio
from shim.io.pty import open_pty, window_size
from shim.io.pump_core import Event

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_fd_leak")]


def fifos(tmp_path: Path, *names: str) -> list[str]:
    paths = [str(tmp_path / name) for name in names]
    for path in paths:
        os.mkfifo(path, 0o600)
    return paths


def client_reader(path: str) -> int:
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)


def client_writer(path: str) -> int:
    return os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)


async def read_until(fd: int, wanted: bytes) -> bytes:
    seen = bytearray()
    while wanted not in seen:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            await anyio.wait_readable(fd)
            continue
        assert data, f"end of file before {wanted!r}; got {bytes(seen)!r}"
        seen += data
    return bytes(seen)


async def read_all(fd: int) -> bytes:
    seen = bytearray()
    try:
        while True:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                await anyio.wait_readable(fd)
                continue
            if not data:
                return bytes(seen)
            seen += data
    finally:
        close_fd(fd)


async def spawn(
    argv: list[str], stdio: tuple[int, int, int], start_new_session: bool = False
) -> Process:
    return await anyio.open_process(
        argv,
        stdin=stdio[0],
        stdout=stdio[1],
        stderr=stdio[2],
        start_new_session=start_new_session,
    )


async def close_process(proc: Process) -> None:
    if proc.returncode is None:
        proc.kill()
    await proc.aclose()


async def settle(condition: Callable[[], bool]) -> None:
    """Wait until `condition()` holds (state that only kernel readiness moves)."""
    while not condition():  # noqa: ASYNC110
        await anyio.sleep(0.005)


async def test_fifo_stdio_round_trip_with_close_io(tmp_path: Path) -> None:
    stdin, stdout, stderr = fifos(tmp_path, "in", "out", "err")
    out_r, err_r = client_reader(stdout), client_reader(stderr)  # containerd opens first
    pio = ProcessIO(Stdio(stdin, stdout, stderr))
    client = client_writer(stdin)
    proc = await spawn(["sh", "-c", "cat; echo err >&2; exit 3"], pio.child_stdio)
    pio.spawned()
    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                pio.start(tg)
                os.write(client, b"hello\n")
                os.close(client)  # the client is done, but our keep-alive writer holds EOF
                assert await read_until(out_r, b"hello\n") == b"hello\n"
                stdin_pump = pio.pumps[0]
                await settle(lambda: stdin_pump.waiting_for == "source")
                with anyio.move_on_after(0.2):
                    await proc.wait()
                assert proc.returncode is None, "cat saw end of file before CloseIO"
                pio.close_stdin()
                assert await proc.wait() == 3
                assert await pio.finish()
            assert await read_all(out_r) == b""
            assert await read_all(err_r) == b"err\n"
        assert stdin_pump.reason is Event.EOF
    finally:
        await close_process(proc)


async def test_output_still_buffered_at_exit_reaches_the_client(tmp_path: Path) -> None:
    (stdout,) = fifos(tmp_path, "out")
    out_r = client_reader(stdout)
    pio = ProcessIO(Stdio(stdout=stdout))
    # 48 KiB fit the pipe: the writer exits before any pump has started, and the
    # backgrounded sleep keeps the pipe's write end: no end of file, the drain ends it.
    script = "head -c 49152 /dev/urandom; sleep 30 &"
    proc = await spawn(["sh", "-c", script], pio.child_stdio, start_new_session=True)
    pio.spawned()
    got: list[bytes] = []

    async def client() -> None:
        got.append(await read_all(out_r))

    try:
        with anyio.fail_after(20):
            assert await proc.wait() == 0
            async with anyio.create_task_group() as tg:
                pio.start(tg)
                tg.start_soon(client)
                assert await pio.finish(grace=10)
        assert len(got[0]) == 49152
        assert pio.pumps[0].reason is Event.EMPTY
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        await close_process(proc)


async def test_file_uri_gives_stdout_and_stderr_one_appended_file(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "ctr.log"
    uri = f"file://{log}"
    pio = ProcessIO(Stdio(stdout=uri, stderr=uri))
    assert log.exists()
    proc = await spawn(["sh", "-c", "echo out; echo err >&2"], pio.child_stdio)
    pio.spawned()
    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                pio.start(tg)
                assert await proc.wait() == 0
                assert await pio.finish()
    finally:
        await close_process(proc)
    assert sorted(log.read_text().splitlines()) == ["err", "out"]


async def test_all_empty_means_dev_null_and_no_pumps() -> None:
    pio = ProcessIO(Stdio())
    try:
        assert len(set(pio.child_stdio)) == 1
        assert os.readlink(f"/proc/self/fd/{pio.child_stdio[0]}") == "/dev/null"
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                pio.start(tg)
            assert pio.pumps == []
            pio.spawned()
            assert await pio.finish()
    finally:
        pio.close()


LOGGER = """#!/bin/sh
# a binary:// logger: record how it was started, then copy fds 3 and 4 to files
printf '%s\\n' "$@" > "$OUT/argv"
env > "$OUT/env"
cat <&3 5>&- > "$OUT/stdout" &
cat <&4 5>&- > "$OUT/stderr" &
exec 5>&-
wait
"""


async def until_file_holds(path: Path, text: str) -> None:
    def holds() -> bool:
        return path.exists() and path.read_text() == text

    while not holds():  # noqa: ASYNC110 - a file, not a task
        await anyio.sleep(0.01)


async def test_a_binary_logger_reads_the_process_output_itself(tmp_path: Path) -> None:
    out = tmp_path / "logged"
    out.mkdir()
    logger = tmp_path / "logger.sh"
    logger.write_text(LOGGER.replace("$OUT", str(out)))
    logger.chmod(0o755)
    uri = f"binary://{logger}?--flag=1&name=web&bare"
    pio = ProcessIO(
        Stdio(stdout=uri, stderr=uri),
        logger_env={"CONTAINER_ID": "c1", "CONTAINER_NAMESPACE": "ns"},
    )
    try:
        with anyio.fail_after(10):
            await pio.ready()  # the logger closed fd 5
            proc = await spawn(["sh", "-c", "echo out; echo err >&2"], pio.child_stdio)
            pio.spawned()
            async with anyio.create_task_group() as tg:
                pio.start(tg)
            assert pio.pumps == []  # nothing pumped by us: the logger reads the pipes
            assert await proc.wait() == 0
            await until_file_holds(out / "stdout", "out\n")
            await until_file_holds(out / "stderr", "err\n")
    finally:
        await pio.finish()
    assert (out / "argv").read_text().split() == ["--flag", "1", "name", "web", "bare"]
    env = dict(line.split("=", 1) for line in (out / "env").read_text().split())
    assert env["CONTAINER_ID"] == "c1"
    assert env["CONTAINER_NAMESPACE"] == "ns"
    assert "PATH" not in env or env["PATH"] != os.environ.get("PATH")  # only what it is given


def test_a_binary_logger_that_cannot_start_and_unknown_schemes_fail_leaving_nothing_open(
    tmp_path: Path,
) -> None:
    uri = f"binary://{tmp_path}/missing?x=1"
    with pytest.raises(ShimError, match="start logging binary"):
        ProcessIO(Stdio(stdout=uri, stderr=uri))
    with pytest.raises(Unsupported, match="with a terminal"):
        ProcessIO(Stdio(stdout=uri, terminal=True))
    with pytest.raises(ShimError, match="unknown STDIO scheme ftp"):
        ProcessIO(Stdio(stdout="ftp://host/x"))


async def test_terminal_pumps_the_master_and_resizes_it(tmp_path: Path) -> None:
    stdin, stdout = fifos(tmp_path, "in", "out")
    out_r = client_reader(stdout)
    pio = ProcessIO(Stdio(stdin=stdin, stdout=stdout, terminal=True))
    client = client_writer(stdin)
    pty = open_pty(80, 24)
    script = 'read line; echo "got $line"; stty size; read again'
    proc = await spawn(["sh", "-c", script], (pty.slave,) * 3, start_new_session=True)
    pty.close_slave()
    pio.spawned()
    try:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                pio.resize(1, 1)  # no pty yet: a no-op, as in the runc shim
                pio.attach_console(tg, pty.take_master())
                pio.resize(132, 43)
                assert window_size(pio.master) == (132, 43)
                os.write(client, b"hi\n")
                seen = await read_until(out_r, b"43 132")
                assert b"got hi" in seen
                pio.close_stdin()
                os.close(client)  # stdin ends: the console shuts down, the shell reads EIO
                assert await proc.wait() != 0
                assert await pio.finish()
            await read_all(out_r)
        assert pio.master == -1
    finally:
        await close_process(proc)
        pty.close()
