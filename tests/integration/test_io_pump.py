"""Copy pumps on real pipes, files and processes, on asyncio and trio."""

from __future__ import annotations

import fcntl
import os
import random
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from subprocess import DEVNULL, PIPE

import anyio
import pytest
from anyio.abc import ByteReceiveStream, Process

from shim.io.fds import close_fd, set_nonblocking
from shim.io.pipes import Pipe, make_pipe
from shim.io.pump import Pump
from shim.io.pump_core import Event

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_fd_leak")]


def stream(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def our_pipe(size: int | None = None) -> Pipe:
    """A pipe whose both ends the test drives with anyio."""
    pipe = make_pipe(size)
    set_nonblocking(pipe.read)
    set_nonblocking(pipe.write)
    return pipe


class Feeder:
    """Writes `data` into `fd` without blocking the loop; `blocked` while the pipe is full."""

    def __init__(self, fd: int, data: bytes, close: bool = True) -> None:
        self.fd, self.data, self.close = fd, data, close
        self.sent = 0
        self.blocked = False

    async def run(self) -> None:
        view = memoryview(self.data)
        try:
            while self.sent < len(view):
                try:
                    self.sent += os.write(self.fd, view[self.sent : self.sent + 65536])
                except BrokenPipeError:  # the reader is gone: what is left has nowhere to go
                    return
                except BlockingIOError:
                    self.blocked = True
                    await anyio.wait_writable(self.fd)
                    self.blocked = False
        finally:
            if self.close:
                close_fd(self.fd)


async def collect(fd: int, out: bytearray, chunk: int = 65536, slow: bool = False) -> None:
    """Read `fd` to end of file into `out`, then close it; `slow` yields after every read."""
    try:
        while True:
            try:
                data = os.read(fd, chunk)
            except BlockingIOError:
                await anyio.wait_readable(fd)
                continue
            if not data:
                return
            out += data
            if slow:
                await anyio.sleep(0.001)
    finally:
        close_fd(fd)


async def settle(condition: Callable[[], bool]) -> None:
    """Wait until `condition()` holds: state moved only by kernel readiness, so no Event
    can announce it. Bounded by the caller's fail_after."""
    while not condition():  # noqa: ASYNC110
        await anyio.sleep(0.005)


_PRODUCER = """
import hashlib, os, sys
block, digest = bytearray(os.urandom(1 << 20)), hashlib.sha256()
for i in range(1024):
    block[:8] = i.to_bytes(8, "little")
    digest.update(block)
    sys.stdout.buffer.write(block)
sys.stdout.flush()
sys.stderr.write(digest.hexdigest())
"""
_CONSUMER = """
import hashlib, os
digest, size = hashlib.sha256(), 0
while data := os.read(0, 1 << 20):
    digest.update(data)
    size += len(data)
print(size, digest.hexdigest())
"""


async def read_stream(stream: ByteReceiveStream | None, out: bytearray) -> None:
    assert stream is not None
    async for chunk in stream:
        out += chunk


async def close_process(proc: Process) -> None:
    if proc.returncode is None:
        proc.kill()
    await proc.aclose()


@pytest.mark.slow
async def test_a_gigabyte_arrives_intact_through_splice() -> None:
    src, dst = make_pipe(), make_pipe()
    python = sys.executable
    producer = await anyio.open_process(
        [python, "-c", _PRODUCER], stdin=DEVNULL, stdout=src.write, stderr=PIPE
    )
    consumer = await anyio.open_process(
        [python, "-c", _CONSUMER], stdin=dst.read, stdout=PIPE, stderr=DEVNULL
    )
    src.close_write()
    dst.close_read()
    pump = Pump(src.take_read(), dst.take_write())
    sent, got = bytearray(), bytearray()
    try:
        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump.run)
                tg.start_soon(read_stream, producer.stderr, sent)
                tg.start_soon(read_stream, consumer.stdout, got)
            assert await producer.wait() == 0
            assert await consumer.wait() == 0
    finally:
        await close_process(producer)
        await close_process(consumer)
    assert pump.method == "splice"
    assert pump.reason is Event.EOF
    assert pump.max_held == 0
    assert pump.bytes_copied == 1 << 30
    assert got.decode().split() == [str(1 << 30), sent.decode()]


@pytest.mark.parametrize("splice", [True, False])
async def test_a_stream_arrives_intact_and_eof_closes_the_sink(splice: bool) -> None:
    data = stream(1, 8 << 20)
    src, dst = our_pipe(), our_pipe()
    got = bytearray()
    pump = Pump(src.take_read(), dst.take_write(), splice=splice)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump.run)
            tg.start_soon(Feeder(src.write, data).run)
            tg.start_soon(collect, dst.read, got)
    assert pump.method == ("splice" if splice else "copy")
    assert pump.reason is Event.EOF
    assert pump.closed
    assert pump.bytes_copied == len(data)
    assert bytes(got) == data  # and collect() saw end of file: the pump closed the sink


async def test_a_kept_sink_stays_open_after_eof() -> None:
    src, dst = our_pipe(), our_pipe()
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(Pump(src.take_read(), dst.write, close_sinks=False).run)
            tg.start_soon(Feeder(src.write, b"hello").run)
    try:
        assert os.read(dst.read, 100) == b"hello"
        with pytest.raises(BlockingIOError):  # no end of file: the write end is still ours
            os.read(dst.read, 100)
    finally:
        dst.close()


@pytest.mark.parametrize("splice", [True, False])
async def test_a_slow_reader_holds_the_writer_back(splice: bool) -> None:
    buffer = 16 << 10
    data = stream(2, 4 << 20)
    src, dst = our_pipe(), our_pipe()
    capacity = fcntl.fcntl(src.write, fcntl.F_GETPIPE_SZ) + fcntl.fcntl(
        dst.write, fcntl.F_GETPIPE_SZ
    )
    pump = Pump(src.take_read(), dst.take_write(), buffer_size=buffer, splice=splice)
    feeder = Feeder(src.write, data)
    got = bytearray()
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump.run)
            tg.start_soon(feeder.run)
            # Nobody reads: both pipes fill, the pump waits on its sink, the writer stops.
            await settle(lambda: feeder.blocked and pump.waiting_for == "sink")
            assert feeder.sent <= capacity + buffer
            assert pump.max_held <= (0 if splice else buffer)
            tg.start_soon(collect, dst.read, got, 4096, True)
    assert bytes(got) == data
    assert pump.max_held <= (0 if splice else buffer)


async def test_twenty_concurrent_pumps_each_deliver_their_own_stream() -> None:
    datas = [stream(100 + i, (1 << 20) + i * 997) for i in range(20)]
    gots = [bytearray() for _ in datas]
    pumps = []
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            for i, data in enumerate(datas):
                src, dst = our_pipe(), our_pipe()
                pumps.append(
                    Pump(src.take_read(), dst.take_write(), splice=i % 2 == 0, name=f"p{i}")
                )
                tg.start_soon(pumps[-1].run)
                tg.start_soon(Feeder(src.write, data).run)
                tg.start_soon(collect, dst.read, gots[i])
    for i, data in enumerate(datas):
        assert bytes(gots[i]) == data, f"stream {i}"
        assert pumps[i].reason is Event.EOF


async def test_fan_out_gives_every_sink_everything_and_holds_one_buffer() -> None:
    data = stream(3, 2 << 20)
    src = our_pipe()
    sinks = [our_pipe() for _ in range(3)]
    gots = [bytearray() for _ in sinks]
    pump = Pump(src.take_read(), [p.take_write() for p in sinks], buffer_size=8192)
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump.run)
            tg.start_soon(Feeder(src.write, data).run)
            for i, sink in enumerate(sinks):
                tg.start_soon(collect, sink.read, gots[i], 65536, i == 0)
    assert pump.method == "copy"
    assert all(bytes(got) == data for got in gots)
    assert 0 < pump.max_held <= 8192


async def test_a_sink_whose_reader_left_ends_the_pump_and_the_writer_sees_epipe() -> None:
    src, dst = our_pipe(), our_pipe()
    dst.close_read()
    pump = Pump(src.take_read(), dst.take_write())
    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump.run)
                os.write(src.write, b"into the void")
        assert pump.reason is Event.SINKS_GONE
        assert pump.error is None  # EPIPE is an ending, not an error
        with pytest.raises(BrokenPipeError):
            os.write(src.write, b"more")
    finally:
        src.close_write()


async def test_one_dead_sink_of_two_does_not_stop_the_other() -> None:
    src, good, dead = our_pipe(), our_pipe(), our_pipe()
    dead.close_read()
    got = bytearray()
    pump = Pump(src.take_read(), [dead.take_write(), good.take_write()])
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump.run)
            tg.start_soon(Feeder(src.write, b"still here").run)
            tg.start_soon(collect, good.read, got)
    assert bytes(got) == b"still here"
    assert pump.reason is Event.EOF


_EXIT_EARLY = """
import os, random, subprocess, sys
# inherits stdout: the pipe never reaches end of file
subprocess.Popen(["sleep", "60"], stderr=subprocess.DEVNULL)
os.write(2, b"%d" % os.getpgrp())
data = random.Random(int(sys.argv[1])).randbytes(int(sys.argv[2]))
view = memoryview(data)
while view:
    view = view[os.write(1, view):]
"""


@pytest.mark.parametrize(("size", "splice"), [(60_000, True), (60_000, False), (3 << 20, True)])
async def test_output_still_in_the_pipe_when_the_writer_exits_is_drained(
    size: int, splice: bool
) -> None:
    src, dst = make_pipe(), our_pipe()
    writer = await anyio.open_process(
        [sys.executable, "-c", _EXIT_EARLY, "7", str(size)],
        stdin=DEVNULL,
        stdout=src.write,
        stderr=PIPE,
        start_new_session=True,  # its grandchild is killed with the group at the end
    )
    src.close_write()
    got, pgid = bytearray(), bytearray()
    pump = Pump(src.take_read(), dst.take_write(), splice=splice)
    try:
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                if size > 65536:  # more than the pipe holds: the writer needs the pump
                    tg.start_soon(pump.run)
                tg.start_soon(collect, dst.read, got)
                await read_stream(writer.stderr, pgid)
                await writer.wait()
                if size <= 65536:  # all of it waits in the pipe; the pump starts late
                    tg.start_soon(pump.run)
                assert await pump.finish(grace=10)
    finally:
        if pgid:
            os.killpg(int(pgid), signal.SIGKILL)
        await close_process(writer)
    assert pump.reason is Event.EMPTY  # no end of file came: the grandchild holds the pipe
    assert bytes(got) == stream(7, size)


async def test_drain_of_an_idle_pipe_ends_at_once() -> None:
    src, dst = our_pipe(), our_pipe()
    pump = Pump(src.take_read(), dst.take_write())
    try:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump.run)
                await settle(lambda: pump.waiting_for == "source")
                assert await pump.finish(grace=5)
        assert pump.reason is Event.EMPTY
    finally:
        src.close_write()
        dst.close_read()


async def test_stop_while_the_sink_is_full_drops_and_closes() -> None:
    src, dst = our_pipe(), our_pipe()
    pump = Pump(src.take_read(), dst.take_write(), splice=False)
    feeder = Feeder(src.write, stream(4, 1 << 20), close=False)
    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump.run)
                tg.start_soon(feeder.run)
                await settle(lambda: pump.waiting_for == "sink")
                assert not await pump.finish(grace=0.05)  # nobody drains the sink: it gives up
                tg.cancel_scope.cancel()
        assert pump.reason is Event.STOP
        assert pump.closed
        with pytest.raises(BrokenPipeError):  # the source's read end is closed
            os.write(src.write, b"x")
    finally:
        src.close_write()
        dst.close_read()


async def test_cancelling_the_task_group_closes_the_pumps_fds() -> None:
    src, dst = our_pipe(), our_pipe()
    pump = Pump(src.take_read(), dst.take_write())
    try:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump.run)
                await settle(lambda: pump.waiting_for == "source")
                tg.cancel_scope.cancel()
        assert pump.reason is Event.CANCELLED
        assert pump.closed
        assert os.read(dst.read, 10) == b""  # end of file: the sink was closed
    finally:
        src.close_write()
        dst.close_read()


@pytest.mark.parametrize(("append", "method"), [(True, "copy"), (False, "splice")])
async def test_a_file_sink_gets_everything(tmp_path: Path, append: bool, method: str) -> None:
    data = stream(5, 3 << 20)
    path = tmp_path / "out.log"
    path.write_bytes(b"before\n")
    flags = os.O_WRONLY | os.O_CLOEXEC | (os.O_APPEND if append else 0)
    sink = os.open(path, flags)
    if not append:
        os.lseek(sink, 0, os.SEEK_END)
    src = our_pipe()
    pump = Pump(src.take_read(), sink)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump.run)
            tg.start_soon(Feeder(src.write, data).run)
    assert pump.method == method
    assert path.read_bytes() == b"before\n" + data


async def test_a_file_source_is_spliced_into_a_pipe(tmp_path: Path) -> None:
    data = stream(6, 5 << 20)
    path = tmp_path / "in"
    path.write_bytes(data)
    dst = our_pipe()
    got = bytearray()
    pump = Pump(os.open(path, os.O_RDONLY | os.O_CLOEXEC), dst.take_write())
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump.run)
            tg.start_soon(collect, dst.read, got)
    assert pump.method == "splice"
    assert bytes(got) == data


async def test_a_pump_stopped_before_it_ran_closes_what_it_owns() -> None:
    src, dst = our_pipe(), our_pipe()
    pump = Pump(src.take_read(), dst.take_write())
    try:
        pump.stop()
        assert pump.closed
        with anyio.fail_after(5):
            await pump.wait()
            await pump.run()  # a late run() has nothing to do
        assert pump.reason is Event.STOP
        assert os.read(dst.read, 1) == b""
        with pytest.raises(BrokenPipeError):
            os.write(src.write, b"x")
    finally:
        src.close_write()
        dst.close_read()
