"""Stdio pipes (which ends the child gets, which we keep) and the never-blocking log fifo."""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shim.errors import ShimError
from shim.io.files import open_append
from shim.io.log_sinks import PIPE_BUF, DroppingWriter, open_log_fifo
from shim.io.pipes import StdioPipes, make_pipe
from tests.conftest import is_root


def open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


@pytest.fixture(autouse=True)
def no_fd_leak() -> Iterator[None]:
    before = open_fds()
    yield
    assert open_fds() - before == set(), "fds left open"


def cloexec(fd: int) -> bool:
    return bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)


def test_stdio_pipes_ends_are_cloexec_ours_nonblocking_the_childs_blocking() -> None:
    pipes = StdioPipes()
    try:
        ours = (pipes.stdin, pipes.stdout, pipes.stderr)
        assert all(fd >= 0 and cloexec(fd) and not os.get_blocking(fd) for fd in ours)
        assert all(cloexec(fd) and os.get_blocking(fd) for fd in pipes.child)
        os.write(pipes.stdin, b"in")
        assert os.read(pipes.child[0], 10) == b"in"
        os.write(pipes.child[2], b"err")
        assert os.read(pipes.stderr, 10) == b"err"
    finally:
        pipes.close()


def test_a_child_gets_its_ends_and_we_see_eof_once_it_exits() -> None:
    pipes = StdioPipes()
    try:
        proc = subprocess.Popen(
            ["sh", "-c", "read x; echo out $x; echo err $x >&2"],
            stdin=pipes.child[0],
            stdout=pipes.child[1],
            stderr=pipes.child[2],
        )
        pipes.close_child_ends()
        assert pipes.child == (-1, -1, -1)
        os.write(pipes.stdin, b"x1\n")
        pipes.close_stdin()
        assert proc.wait(timeout=10) == 0
        for fd in (pipes.stdout, pipes.stderr):
            os.set_blocking(fd, True)
        assert os.read(pipes.stdout, 100) == b"out x1\n"
        assert os.read(pipes.stdout, 100) == b""  # our copy of its end is gone: EOF
        assert os.read(pipes.stderr, 100) == b"err x1\n"
    finally:
        pipes.close()


def test_streams_not_asked_for_are_dev_null() -> None:
    pipes = StdioPipes(stdin=False, stderr=False)
    try:
        assert pipes.stdin == -1
        assert pipes.stderr == -1
        assert pipes.stdout >= 0
        for fd in (pipes.child[0], pipes.child[2]):
            assert os.readlink(f"/proc/self/fd/{fd}") == "/dev/null"
        assert pipes.take(0) == -1
        fd = pipes.take(1)
        assert pipes.stdout == -1
        os.close(fd)
    finally:
        pipes.close()


@pytest.mark.skipif(not is_root(), reason="needs root to give the pipe ends away")
def test_the_childs_ends_belong_to_the_io_user() -> None:
    pipes = StdioPipes(owner=(1234, 5678))
    try:
        for fd in pipes.child:
            st = os.fstat(fd)
            assert (st.st_uid, st.st_gid) == (1234, 5678)
    finally:
        pipes.close()


def test_make_pipe_with_a_capacity() -> None:
    pipe = make_pipe(1 << 20)
    try:
        assert fcntl.fcntl(pipe.write, fcntl.F_GETPIPE_SZ) == 1 << 20
    finally:
        pipe.close()


def test_open_append_creates_parents_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "log"
    for text in (b"one\n", b"two\n"):
        fd = open_append(str(path))
        try:
            assert cloexec(fd)
            os.write(fd, text)
        finally:
            os.close(fd)
    assert path.read_bytes() == b"one\ntwo\n"
    assert path.stat().st_mode & 0o777 == 0o644 & ~_umask()
    with pytest.raises(ShimError, match="no such file or directory"):
        open_append(str(tmp_path / "missing" / "log"), create=False)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.fixture
def log_fifo(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """containerd's `log` fifo and its end of it (O_RDWR|O_NONBLOCK, as containerd opens it)."""
    path = str(tmp_path / "log")
    os.mkfifo(path, 0o600)
    reader = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    yield path, reader
    os.close(reader)


def drain(fd: int) -> bytes:
    out = b""
    while True:
        try:
            out += os.read(fd, 1 << 16)
        except BlockingIOError:
            return out


def test_a_full_log_fifo_drops_records_and_counts_them(log_fifo: tuple[str, int]) -> None:
    path, reader = log_fifo
    sink = open_log_fifo(path)
    try:
        line = b"x" * 99 + b"\n"
        written = sum(sink.write(line) for _ in range(2000))  # 200 KB into 64 KiB: no block
        assert 0 < written < 2000
        assert sink.dropped == 2000 - written
        assert sink.dropped_bytes == sink.dropped * 100
        assert sink.torn == 0
        data = drain(reader)
        assert len(data) == sink.written == written * 100
        assert data == line * written  # whole records only
        assert sink.write(b"after the reader caught up\n")
        assert drain(reader) == b"after the reader caught up\n"
    finally:
        sink.close()


def test_a_long_record_that_does_not_fit_is_dropped_whole(log_fifo: tuple[str, int]) -> None:
    path, reader = log_fifo
    sink = open_log_fifo(path)
    try:
        while sink.write(b"f" * 1000):  # nearly full
            pass
        drain(reader)
        assert sink.write(b"y" * 60000)
        assert not sink.write(b"z" * (PIPE_BUF * 2))  # ~5 KiB free: dropped, not torn
        assert sink.torn == 0
        assert drain(reader) == b"y" * 60000
    finally:
        sink.close()


def test_a_log_fifo_without_a_reader_opens_and_still_never_blocks(tmp_path: Path) -> None:
    path = str(tmp_path / "log")
    os.mkfifo(path, 0o600)
    sink = open_log_fifo(path)  # ENXIO for O_WRONLY: opened O_RDWR instead
    try:
        assert sink.write(b"kept for a reader that comes back\n")
        while sink.write(b"." * 4096):
            pass
        assert sink.dropped == 1
    finally:
        sink.close()


def test_a_missing_log_fifo_is_a_shim_error(tmp_path: Path) -> None:
    with pytest.raises(ShimError, match=r"open log fifo .*: no such file or directory"):
        open_log_fifo(str(tmp_path / "nope"))


def test_a_closed_dropping_writer_refuses_writes() -> None:
    pipe = make_pipe()
    sink = DroppingWriter(pipe.take_write())
    sink.close()
    sink.close()
    with pytest.raises(ValueError, match="closed"):
        sink.write(b"x")
    pipe.close()
