"""The ttrpc server and client on a real unix socket, on asyncio and trio."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import anyio
import pytest
from google.protobuf.empty_pb2 import Empty

from shim.errors import NotFound
from shim.shimv2.lifecycle import Lifecycle
from shim.shimv2.proto import shim_pb2
from shim.shimv2.services import CallContext, ServiceRegistry, unary
from shim.shimv2.task_api import TASK_SERVICE, task_methods
from shim.shimv2.task_base import TaskServiceBase
from shim.shimv2.ttrpc_client import ClosedError, open_client
from shim.shimv2.ttrpc_framing import MAX_DATA, encode_frame
from shim.shimv2.ttrpc_status import Code, TtrpcError

from ._ttrpc_helpers import raw_peer, request_frame, running_server

pytestmark = pytest.mark.anyio
TEST = "test.v1.Probe"


class Probe:
    """A test service: Wait blocks until released, State answers at once."""

    def __init__(self) -> None:
        self.release = anyio.Event()
        self.waiting = self.cancelled = 0
        self._changed = anyio.Event()

    async def wait(self, req: shim_pb2.WaitRequest, ctx: CallContext) -> shim_pb2.WaitResponse:
        self._count("waiting")
        try:
            await self.release.wait()
        except anyio.get_cancelled_exc_class():
            self._count("cancelled")
            raise
        return shim_pb2.WaitResponse(exit_status=int(req.id or "0"))

    def _count(self, what: str) -> None:
        setattr(self, what, getattr(self, what) + 1)
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, what: str, n: int) -> None:
        while getattr(self, what) < n:
            await self._changed.wait()

    async def state(self, req: shim_pb2.StateRequest, ctx: CallContext) -> shim_pb2.StateResponse:
        if req.id == "missing":
            raise NotFound("container not created")
        if req.id == "boom":
            raise RuntimeError("untyped failure")
        return shim_pb2.StateResponse(id=req.id, pid=os.getpid())


def _registry(probe: Probe) -> ServiceRegistry:
    registry = ServiceRegistry()
    registry.register(
        TEST,
        {
            "Wait": unary(shim_pb2.WaitRequest, probe.wait),
            "State": unary(shim_pb2.StateRequest, probe.state),
        },
    )
    return registry


async def test_concurrent_calls_on_one_connection_answer_in_completion_order(
    tmp_path: Path,
) -> None:
    probe, sock = Probe(), tmp_path / "s"
    with anyio.fail_after(10):
        async with running_server(sock, _registry(probe)), open_client(str(sock)) as client:
            results: list[str] = []

            async def waiter() -> None:
                reply = await client.call(
                    TEST, "Wait", shim_pb2.WaitRequest(id="7"), shim_pb2.WaitResponse
                )
                results.append(f"wait {reply.exit_status}")

            async with anyio.create_task_group() as tg:
                for _ in range(3):
                    tg.start_soon(waiter)
                await probe.until("waiting", 3)
                state = await client.call(
                    TEST, "State", shim_pb2.StateRequest(id="c1"), shim_pb2.StateResponse
                )
                results.append(f"state {state.id}")
                probe.release.set()
            assert results == ["state c1", "wait 7", "wait 7", "wait 7"]


async def test_several_connections_at_once(tmp_path: Path) -> None:
    probe, sock = Probe(), tmp_path / "s"
    with anyio.fail_after(10):
        async with (
            running_server(sock, _registry(probe)) as server,
            open_client(str(sock)) as a,
            open_client(str(sock)) as b,
            open_client(str(sock)) as c,
        ):
            for i, client in enumerate((a, b, c)):
                reply = await client.call(
                    TEST, "State", shim_pb2.StateRequest(id=f"c{i}"), shim_pb2.StateResponse
                )
                assert reply.id == f"c{i}"
            assert server.connections == 3


async def test_errors_map_to_status_codes(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    probe, sock = Probe(), tmp_path / "s"
    with anyio.fail_after(10):
        async with running_server(sock, _registry(probe)), open_client(str(sock)) as client:
            cases = [
                ((TEST, "State", "missing"), Code.NOT_FOUND, "container not created"),
                ((TEST, "State", "boom"), Code.UNKNOWN, "untyped failure"),
                ((TEST, "Nope", "x"), Code.UNIMPLEMENTED, "method Nope"),
                (("no.such.Service", "State", "x"), Code.UNIMPLEMENTED, "service no.such.Service"),
            ]
            for (service, method, cid), code, text in cases:
                with pytest.raises(TtrpcError) as info:
                    await client.call(
                        service, method, shim_pb2.StateRequest(id=cid), shim_pb2.StateResponse
                    )
                assert (info.value.code, info.value.message) == (code, text)
    assert "Traceback" in capfd.readouterr().err  # the untyped error's traceback is logged


async def test_deadline_from_timeout_nano(tmp_path: Path) -> None:
    probe, sock = Probe(), tmp_path / "s"
    with anyio.fail_after(10):
        async with running_server(sock, _registry(probe)), raw_peer(sock) as peer:
            await peer.send(request_frame(1, TEST, "Wait", b"", timeout_nano=50_000_000))
            assert await peer.status() == (
                1,
                Code.DEADLINE_EXCEEDED,
                "context deadline exceeded",
                b"",
            )


async def test_bad_stream_ids_and_oversized_frames_are_answered_and_the_connection_lives(
    tmp_path: Path,
) -> None:
    probe, sock = Probe(), tmp_path / "s"
    state = shim_pb2.StateRequest(id="c").SerializeToString()
    with anyio.fail_after(20):
        async with running_server(sock, _registry(probe)), raw_peer(sock) as peer:
            await peer.send(request_frame(2, TEST, "State", state))
            assert await peer.status() == (
                2,
                Code.INVALID_ARGUMENT,
                "StreamID must be odd for client initiated streams",
                b"",
            )
            await peer.send(request_frame(5, TEST, "State", state))
            assert (await peer.status())[:2] == (5, Code.OK)
            await peer.send(request_frame(3, TEST, "State", state))
            assert await peer.status() == (
                3,
                Code.INVALID_ARGUMENT,
                "StreamID cannot be re-used and must increment",
                b"",
            )
            big = MAX_DATA + 100
            await peer.send(big.to_bytes(4, "big") + (7).to_bytes(4, "big") + b"\x01\x00")
            for _ in range(big // 65536):
                await peer.send(b"\x00" * 65536)
            await peer.send(b"\x00" * (big % 65536))
            sid, code, message, _ = await peer.status()
            assert (sid, code) == (7, Code.RESOURCE_EXHAUSTED)
            assert message == f"message length {big} exceed maximum message size of {MAX_DATA}"
            await peer.send(request_frame(9, TEST, "State", state))
            assert (await peer.status())[:2] == (9, Code.OK)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(encode_frame(1, 7, b"garbage"), id="unknown-type"),
        pytest.param(request_frame(1, TEST, "State")[:13], id="truncated"),
        pytest.param(b"GET / HTTP/1.1\r\n\r\n", id="http"),
    ],
)
async def test_garbage_closes_that_connection_only(
    tmp_path: Path, bad: bytes, capfd: pytest.CaptureFixture[str]
) -> None:
    probe, sock = Probe(), tmp_path / "s"
    with anyio.fail_after(10):
        async with running_server(sock, _registry(probe)), open_client(str(sock)) as good:
            async with raw_peer(sock) as peer:
                await peer.send(bad)
                peer.stream.send_eof()  # half-close: the server sees EOF after the bytes
                assert await peer.closed()
            reply = await good.call(
                TEST, "State", shim_pb2.StateRequest(id="ok"), shim_pb2.StateResponse
            )
            assert reply.id == "ok"
            async with open_client(str(sock)) as fresh:
                reply = await fresh.call(
                    TEST, "State", shim_pb2.StateRequest(id="new"), shim_pb2.StateResponse
                )
                assert reply.id == "new"
    err = capfd.readouterr().err
    if bad.startswith(b"GET"):  # an "oversized" length, then EOF inside its body
        assert "truncated frame" in err
    else:
        assert "ttrpc: closing connection" in err


async def test_half_closed_connection_cancels_its_calls_and_the_server_goes_on(
    tmp_path: Path,
) -> None:
    probe, sock = Probe(), tmp_path / "s"
    with anyio.fail_after(10):
        async with running_server(sock, _registry(probe)):
            async with raw_peer(sock) as peer:
                await peer.send(
                    request_frame(1, TEST, "Wait", shim_pb2.WaitRequest(id="1").SerializeToString())
                )
                await probe.until("waiting", 1)
                peer.stream.send_eof()
                assert await peer.closed()
            await probe.until("cancelled", 1)  # its Wait was cancelled, not left behind
            async with open_client(str(sock)) as client:
                reply = await client.call(
                    TEST, "State", shim_pb2.StateRequest(id="x"), shim_pb2.StateResponse
                )
                assert reply.id == "x"


async def test_client_fails_calls_in_flight_when_the_server_goes(tmp_path: Path) -> None:
    probe, sock = Probe(), tmp_path / "s"
    with anyio.fail_after(10):
        async with open_client_after_server_stops(sock, probe) as outcome:
            assert isinstance(outcome, ClosedError)


from collections.abc import AsyncIterator  # noqa: E402
from contextlib import asynccontextmanager  # noqa: E402


@asynccontextmanager
async def open_client_after_server_stops(
    sock: Path, probe: Probe
) -> AsyncIterator[BaseException | None]:
    outcome: BaseException | None = None
    from shim.shimv2.ttrpc_server import TtrpcServer
    from shim.shimv2.unix_socket import listen_unix

    listener = listen_unix(str(sock))

    server = TtrpcServer(_registry(probe))
    async with anyio.create_task_group() as outer:
        scope = anyio.CancelScope()

        async def serve() -> None:
            with scope:
                try:
                    await server.serve(listener)
                finally:
                    listener.close()

        outer.start_soon(serve)
        async with open_client(str(sock)) as client:

            async def call() -> None:
                nonlocal outcome
                try:
                    await client.call(
                        TEST, "Wait", shim_pb2.WaitRequest(id="1"), shim_pb2.WaitResponse
                    )
                except ClosedError as err:
                    outcome = err

            async with anyio.create_task_group() as tg:
                tg.start_soon(call)
                await probe.until("waiting", 1)
                scope.cancel()  # the server and its connections go away
            with pytest.raises(ClosedError):
                await client.call(
                    TEST, "State", shim_pb2.StateRequest(id="x"), shim_pb2.StateResponse
                )
        yield outcome


async def test_peer_of_another_user_is_refused(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to connect as another user")
    probe = Probe()
    public = Path(tempfile.mkdtemp(prefix="ttrpc-peer-"))  # tmp_path is 0700 above us
    os.chmod(public, 0o755)
    sock = public / "s"
    script = (
        "import os, socket, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
        "try:\n"
        "    s.sendall(bytes.fromhex(sys.argv[2])); print(repr(s.recv(100)))\n"
        "except (BrokenPipeError, ConnectionResetError):\n"
        "    print(repr(b''))\n"
    )
    frame = request_frame(1, TEST, "State", shim_pb2.StateRequest(id="x").SerializeToString())
    with anyio.fail_after(20):
        async with running_server(sock, _registry(probe)):
            os.chmod(sock, 0o777)
            result = await anyio.run_process(
                [sys.executable, "-c", script, str(sock), frame.hex()], check=False
            )
    shutil.rmtree(public)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == "b''"  # closed without an answer
    assert "ttrpc: connection refused: ttrpc: invalid credentials" in capfd.readouterr().err


async def test_task_service_base_connect_and_shutdown(tmp_path: Path) -> None:
    sock = tmp_path / "s"
    lifecycle = Lifecycle()
    service = TaskServiceBase(lifecycle)
    registry = ServiceRegistry()
    registry.register(TASK_SERVICE, task_methods(service))
    with anyio.fail_after(10):
        async with running_server(sock, registry), open_client(str(sock)) as client:
            reply = await client.call(
                TASK_SERVICE, "Connect", shim_pb2.ConnectRequest(id="c1"), shim_pb2.ConnectResponse
            )
            assert (reply.shim_pid, reply.task_pid) == (os.getpid(), 0)
            with pytest.raises(TtrpcError) as info:
                await client.call(
                    TASK_SERVICE,
                    "Create",
                    shim_pb2.CreateTaskRequest(id="c1"),
                    shim_pb2.CreateTaskResponse,
                )
            assert info.value.code == Code.UNIMPLEMENTED
            assert info.value.message == "Create not implemented by pyshim: not implemented"

            class Busy:
                def __len__(self) -> int:
                    return 1

                def init_pid(self, container_id: str) -> int | None:
                    return 4242 if container_id == "c1" else None

            service.tasks = Busy()
            reply = await client.call(
                TASK_SERVICE, "Connect", shim_pb2.ConnectRequest(id="c1"), shim_pb2.ConnectResponse
            )
            assert reply.task_pid == 4242
            await client.call(TASK_SERVICE, "Shutdown", shim_pb2.ShutdownRequest(id="c1"), Empty)
            assert not lifecycle.stopping  # containers left: a no-op
            service.tasks = TaskServiceBase(lifecycle).tasks
            await client.call(TASK_SERVICE, "Shutdown", shim_pb2.ShutdownRequest(id="c1"), Empty)
            with anyio.fail_after(2):
                await lifecycle.wait()
            assert lifecycle.reason == "Shutdown(c1)"


def test_task_methods_match_the_proto_service() -> None:
    table = task_methods(TaskServiceBase(Lifecycle()))
    service = shim_pb2.DESCRIPTOR.services_by_name["Task"]
    assert sorted(table) == sorted(m.name for m in service.methods)
