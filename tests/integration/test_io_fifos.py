"""containerd's stdio fifos: opened without blocking, kept alive, and closed by CloseIO."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from subprocess import DEVNULL

import anyio
import pytest

from shim.errors import ShimError
from shim.io.fds import close_fd, ready_now
from shim.io.fifos import InputFifo, OutputFifo, is_fifo
from shim.io.pipes import make_pipe
from shim.io.pump import Pump
from shim.io.pump_core import Event

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_fd_leak")]


@pytest.fixture
def fifo(tmp_path: Path) -> str:
    path = str(tmp_path / "io")
    os.mkfifo(path, 0o600)
    return path


async def read_all(fd: int) -> bytes:
    """Read a non-blocking fd to end of file, then close it."""
    out = bytearray()
    try:
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                await anyio.wait_readable(fd)
                continue
            if not data:
                return bytes(out)
            out += data
    finally:
        close_fd(fd)


async def read_exactly(fd: int, size: int) -> bytes:
    out = bytearray()
    while len(out) < size:
        try:
            data = os.read(fd, size - len(out))
        except BlockingIOError:
            await anyio.wait_readable(fd)
            continue
        assert data, f"end of file after {bytes(out)!r}"
        out += data
    return bytes(out)


async def settle(condition: Callable[[], bool]) -> None:
    """Wait until `condition()` holds: state moved only by kernel readiness, so no Event
    can announce it. Bounded by the caller's fail_after."""
    while not condition():  # noqa: ASYNC110
        await anyio.sleep(0.005)


def holds(pid: int, path: str) -> bool:
    """Process `pid` has `path` open."""
    fds = f"/proc/{pid}/fd"
    try:
        return any(os.readlink(f"{fds}/{fd}") == path for fd in os.listdir(fds))
    except FileNotFoundError:  # an fd closed while we looked: look again
        return False


def client_reader(path: str) -> int:
    """containerd's end of an output fifo (it opens it in the background, non-blocking)."""
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)


def test_is_fifo(fifo: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert is_fifo(fifo)
    assert not is_fifo(str(tmp_path / "file"))
    assert not is_fifo(str(tmp_path / "missing"))


def test_a_missing_fifo_is_a_shim_error_naming_it(tmp_path: Path) -> None:
    path = str(tmp_path / "nope")
    with pytest.raises(ShimError, match=f"open stdout fifo {path}: no such file or directory"):
        OutputFifo(path)
    with pytest.raises(ShimError, match=f"open stdin fifo {path}: no such file"):
        InputFifo(path)


@pytest.mark.parametrize("client_first", [True, False])
async def test_output_fifo_opens_before_or_after_the_client(fifo: str, client_first: bool) -> None:
    reader = client_reader(fifo) if client_first else -1
    out = OutputFifo(fifo)  # must not block, whoever came first
    if reader < 0:
        reader = client_reader(fifo)
    src = make_pipe()
    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(Pump(src.take_read(), out.take()).run)
                os.write(src.write, b"hello from the container\n")
                src.close_write()
                assert await read_all(reader) == b"hello from the container\n"
    finally:
        out.close()
        src.close()


async def test_output_reaches_a_client_that_opens_later_and_one_that_blocks(fifo: str) -> None:
    out = OutputFifo(fifo)
    src = make_pipe()
    pump = Pump(src.take_read(), out.take())
    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump.run)
                os.write(src.write, b"early ")  # nobody reads yet: it waits in the fifo
                await settle(lambda: pump.bytes_copied == 6)
                # A client whose open(2) blocks until a writer exists (cat), started late:
                cat = await anyio.open_process(["cat", fifo])
                # It must have the fifo open before our end of file: a reader that comes
                # after our writer closed waits for a writer forever (as with runc's shim).
                await settle(lambda: holds(cat.pid, fifo))
                os.write(src.write, b"late")
                src.close_write()
                assert cat.stdout is not None
                got = b""
                async for chunk in cat.stdout:
                    got += chunk
                assert await cat.wait() == 0
                await cat.aclose()
        assert got == b"early late"
    finally:
        out.close()
        src.close()


async def test_a_client_that_detaches_and_reattaches_loses_nothing(fifo: str) -> None:
    out = OutputFifo(fifo)
    src = make_pipe()
    pump = Pump(src.take_read(), out.take())
    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump.run)
                first = client_reader(fifo)
                os.write(src.write, b"one,")
                assert await read_exactly(first, 4) == b"one,"
                os.close(first)  # the client goes away: our held reader keeps EPIPE off
                os.write(src.write, b"two,")
                os.write(src.write, b"three")
                src.close_write()
                again = client_reader(fifo)
                assert await read_all(again) == b"two,three"
        assert pump.reason is Event.EOF
        assert pump.error is None
    finally:
        out.close()
        src.close()


async def stdin_pump_to_pipe(fifo: InputFifo) -> tuple[Pump, int]:
    """A pump from the stdin fifo into a pipe; returns it and the process's end."""
    pipe = make_pipe()
    os.set_blocking(pipe.read, False)
    return Pump(fifo.take(), pipe.take_write(), name="stdin"), pipe.read


async def test_stdin_from_a_client_that_opened_first_sees_eof_only_after_close_io(
    fifo: str,
) -> None:
    # A client whose open(2) for writing blocks until our reader exists (as containerd's).
    client = await anyio.open_process(
        ["sh", "-c", f"printf 'typed' > {fifo}"], stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL
    )
    stdin = InputFifo(fifo)
    pump, process_end = await stdin_pump_to_pipe(stdin)
    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump.run)
                assert await read_exactly(process_end, 5) == b"typed"
                assert await client.wait() == 0
                # The client is gone, but our keep-alive writer holds end of file back.
                await settle(lambda: pump.waiting_for == "source")
                assert not ready_now(process_end)
                stdin.close_keepalive()  # CloseIO(stdin=true)
                assert await read_all(process_end) == b""
        assert pump.reason is Event.EOF
    finally:
        if client.returncode is None:
            client.kill()
        await client.aclose()
        stdin.close()


async def test_stdin_fifo_opened_before_its_writer(fifo: str) -> None:
    stdin = InputFifo(fifo)
    pump, process_end = await stdin_pump_to_pipe(stdin)
    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump.run)
                # A reader exists, so the client's non-blocking open for writing succeeds.
                client = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
                stdin.close_keepalive()  # CloseIO before the client is done: EOF on its close
                os.write(client, b"abc")
                assert await read_exactly(process_end, 3) == b"abc"
                os.write(client, b"def")
                os.close(client)
                assert await read_all(process_end) == b"def"
    finally:
        stdin.close()


async def test_an_empty_stdin_fifo_gives_eof_after_close_io(fifo: str) -> None:
    stdin = InputFifo(fifo)
    pump, process_end = await stdin_pump_to_pipe(stdin)
    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump.run)
                await settle(lambda: pump.waiting_for == "source")
                assert not ready_now(process_end)  # no writer ever came: still no EOF
                stdin.close_keepalive()
                assert await read_all(process_end) == b""
    finally:
        stdin.close()


def test_a_stdin_path_that_is_a_file_is_read_as_one(tmp_path: Path) -> None:
    path = tmp_path / "input"
    path.write_bytes(b"from a file")
    stdin = InputFifo(str(path))
    try:
        assert not stdin.keepalive_open
        assert os.read(stdin.fd, 100) == b"from a file"
    finally:
        stdin.close()
