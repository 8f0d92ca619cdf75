"""Raw ttrpc over a unix socket, for tests that must send what a good client never would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from shim.shimv2.proto import rpc_status_pb2, ttrpc_pb2
from shim.shimv2.services import ServiceRegistry
from shim.shimv2.ttrpc_framing import REQUEST, Frame, FrameDecoder, encode_frame
from shim.shimv2.ttrpc_server import PeerCheck, TtrpcServer
from shim.shimv2.unix_socket import UnixStream, connect_unix, listen_unix


def request_frame(
    sid: int, service: str, method: str, payload: bytes = b"", timeout_nano: int = 0
) -> bytes:
    body = ttrpc_pb2.Request(
        service=service, method=method, payload=payload, timeout_nano=timeout_nano
    )
    return encode_frame(sid, REQUEST, body.SerializeToString())


class RawPeer:
    def __init__(self, stream: UnixStream) -> None:
        self.stream = stream
        self._decoder = FrameDecoder()
        self._frames: list[Frame] = []

    async def send(self, data: bytes) -> None:
        await self.stream.send(data)

    async def frame(self) -> Frame:
        while not self._frames:
            chunk = await self.stream.receive()
            if not chunk:
                raise EOFError("connection closed")
            self._frames += [f for f in self._decoder.feed(chunk) if isinstance(f, Frame)]
        return self._frames.pop(0)

    async def status(self) -> tuple[int, int, str, bytes]:
        """(stream id, code, message, payload) of the next response."""
        frame = await self.frame()
        response = ttrpc_pb2.Response.FromString(frame.data)
        status = response.status if response.HasField("status") else rpc_status_pb2.Status()
        return frame.stream_id, status.code, status.message, response.payload

    async def closed(self) -> bool:
        """True once the server closed the connection (EOF or reset)."""
        try:
            return await self.stream.receive() == b""
        except ConnectionResetError:
            return True


@asynccontextmanager
async def raw_peer(path: Path) -> AsyncIterator[RawPeer]:
    stream = await connect_unix(str(path))
    try:
        yield RawPeer(stream)
    finally:
        await stream.aclose()


@asynccontextmanager
async def running_server(
    path: Path, registry: ServiceRegistry, check_peer: PeerCheck | None = None
) -> AsyncIterator[TtrpcServer]:
    server = TtrpcServer(registry) if check_peer is None else TtrpcServer(registry, check_peer)
    listener = listen_unix(str(path))
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, listener)
            yield server
            tg.cancel_scope.cancel()
    finally:
        listener.close()
