"""Pty pairs, window sizes, and the console socket (a pty master over SCM_RIGHTS)."""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios

import anyio
import pytest

from shim.errors import ShimError
from shim.io.console import (
    ConsoleSocket,
    connect_console_socket,
    receive_master,
    recv_master,
    send_master,
    socket_pair,
)
from shim.io.pipes import make_pipe
from shim.io.pty import open_pty, resize, window_size
from shim.io.pump import Pump
from shim.io.pump_core import Event


def same_file(a: int, b: int) -> bool:
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino, sa.st_rdev) == (sb.st_dev, sb.st_ino, sb.st_rdev)


def test_resize_shows_in_tiocgwinsz_on_the_slave() -> None:
    pty = open_pty()
    try:
        resize(pty.master, 120, 40)
        rows, cols, _, _ = struct.unpack(
            "HHHH", fcntl.ioctl(pty.slave, termios.TIOCGWINSZ, bytes(8))
        )
        assert (cols, rows) == (120, 40)
        assert window_size(pty.slave) == (120, 40)
        resize(pty.master, 65536 + 81, 25)  # containerd's uint32 is cut to 16 bits, as runc
        assert window_size(pty.slave) == (81, 25)
    finally:
        pty.close()


def test_open_pty_with_a_size_and_close_on_exec() -> None:
    pty = open_pty(100, 30)
    try:
        assert window_size(pty.master) == (100, 30)
        assert pty.name.startswith("/dev/pts/")
        assert not os.get_inheritable(pty.master)
        assert not os.get_inheritable(pty.slave)
    finally:
        pty.close()


def test_resize_of_something_else_is_a_shim_error() -> None:
    pipe = make_pipe()
    try:
        with pytest.raises(ShimError, match="resize pty: inappropriate ioctl"):
            resize(pipe.write, 80, 24)
    finally:
        pipe.close()


def test_console_socket_round_trip_sends_the_same_master() -> None:
    pty = open_pty()
    ours, theirs = socket_pair()
    try:
        send_master(theirs, pty.master, pty.name)
        got = recv_master(ours)  # closes `ours`
        try:
            assert same_file(got, pty.master)
            os.write(pty.slave, b"through the socket")
            assert os.read(got, 100) == b"through the socket"
            assert not os.get_inheritable(got)  # MSG_CMSG_CLOEXEC
        finally:
            os.close(got)
    finally:
        os.close(theirs)
        pty.close()


def test_a_peer_that_sends_no_fd_is_an_error() -> None:
    ours, theirs = socket_pair()
    try:
        os.write(theirs, b"/dev/pts/0")
        with pytest.raises(ShimError, match="no pty master received"):
            recv_master(ours)
    finally:
        os.close(theirs)


@pytest.mark.anyio
async def test_receive_master_waits_without_blocking_the_loop() -> None:
    pty = open_pty()
    ours, theirs = socket_pair()
    try:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                got: list[int] = []

                async def receive() -> None:
                    got.append(await receive_master(ours))

                tg.start_soon(receive)
                await anyio.wait_all_tasks_blocked()  # it waits on the socket, loop free
                send_master(theirs, pty.master, pty.name)
        assert same_file(got[0], pty.master)
        os.close(got[0])
    finally:
        os.close(theirs)
        pty.close()


@pytest.mark.anyio
async def test_console_socket_listener_round_trip_like_runc() -> None:
    pty = open_pty()
    console = ConsoleSocket()
    path = console.path
    try:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                got: list[int] = []

                async def receive() -> None:
                    got.append(await console.receive())

                tg.start_soon(receive)
                conn = connect_console_socket(path)  # what the runtime does with the path
                send_master(conn, pty.master, pty.name)
                os.close(conn)
        assert same_file(got[0], pty.master)
        os.close(got[0])
    finally:
        console.close()
        pty.close()
    assert not await anyio.Path(path).exists()
    assert not await anyio.Path(path).parent.exists()


def test_console_socket_at_a_taken_path_is_an_error(tmp_path: object) -> None:
    with socket.socket(socket.AF_UNIX) as taken:
        path = f"{tmp_path}/pty.sock"
        taken.bind(path)
        with pytest.raises(ShimError, match=f"listen unix {path}: address already in use"):
            ConsoleSocket(path)


@pytest.mark.anyio
async def test_a_pump_from_a_master_ends_when_the_slave_closes() -> None:
    pty = open_pty()
    sink = make_pipe()
    os.set_blocking(sink.read, False)
    pump = Pump(pty.take_master(), sink.take_write(), name="console")
    try:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(pump.run)
                os.write(pty.slave, b"last words")
                pty.close_slave()  # the master now reads EIO: end of file for the pump
        assert pump.method == "copy"
        assert pump.reason is Event.EOF
        data = b""
        while chunk := os.read(sink.read, 100):
            data += chunk
        assert data == b"last words"
    finally:
        pty.close()
        sink.close()
