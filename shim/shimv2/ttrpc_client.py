"""A small ttrpc client on anyio: concurrent unary calls over one unix socket.

    async with open_client("/run/containerd/containerd.sock.ttrpc") as client:
        with anyio.fail_after(5):
            await client.call("containerd.services.events.ttrpc.v1.Events", "Forward",
                              request, Empty)

A non-OK status raises TtrpcError; a connection that closes, breaks or stops
speaking ttrpc fails every call in flight (and every later one) with ClosedError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
from google.protobuf.message import DecodeError, Message

from shim.shimv2.ttrpc_client_core import ClientConnection, Reply
from shim.shimv2.ttrpc_server_core import ProtocolViolation
from shim.shimv2.ttrpc_status import Code, TtrpcError
from shim.shimv2.unix_socket import UnixStream, connect_unix

Resp = TypeVar("Resp", bound=Message)
READ_SIZE = 1 << 16


class ClosedError(ConnectionError):
    """The connection is gone (`ttrpc: closed`)."""


class _Waiter:
    __slots__ = ("done", "reply")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.reply: Reply | None = None


class TtrpcClient:
    def __init__(self, stream: UnixStream) -> None:
        self._stream = stream
        self._protocol = ClientConnection()
        self._waiters: dict[int, _Waiter] = {}
        self._send_lock = anyio.Lock()
        self._closed: str | None = None

    async def call(
        self,
        service: str,
        method: str,
        request: Message,
        response_type: type[Resp],
        timeout_nano: int = 0,
    ) -> Resp:
        """One unary call. `timeout_nano` is the server's deadline; bound the wait on our
        side with `anyio.fail_after`. Raises TtrpcError (the status) or ClosedError.
        """
        raw = await self.call_raw(service, method, request.SerializeToString(), timeout_nano)
        reply = response_type()
        try:
            reply.ParseFromString(raw)
        except DecodeError as err:
            raise TtrpcError(Code.INTERNAL, f"unmarshal {method} reply: {err}") from None
        return reply

    async def call_raw(
        self, service: str, method: str, payload: bytes, timeout_nano: int = 0
    ) -> bytes:
        if self._closed is not None:
            raise ClosedError(f"ttrpc: closed: {self._closed}")
        waiter = _Waiter()
        async with self._send_lock:  # stream ids must reach the wire in order
            stream_id, frame = self._protocol.request(service, method, payload, timeout_nano)
            self._waiters[stream_id] = waiter
            try:
                await self._stream.send(frame)
            except (anyio.ClosedResourceError, OSError) as err:
                self._fail_all(f"send: {err}")
        try:
            await waiter.done.wait()
        finally:
            self._waiters.pop(stream_id, None)
        reply = waiter.reply
        if reply is None:
            raise ClosedError(f"ttrpc: closed: {self._closed}")
        if reply.code != Code.OK:
            raise TtrpcError(reply.code, reply.message)
        return reply.payload

    async def _read(self) -> None:
        reason = "connection closed by peer"
        try:
            while True:
                chunk = await self._stream.receive(READ_SIZE)
                if not chunk:
                    self._protocol.eof()
                    break
                for reply in self._protocol.receive(chunk):
                    waiter = self._waiters.pop(reply.stream_id, None)
                    if waiter is not None:  # else the caller gave up (timeout)
                        waiter.reply = reply
                        waiter.done.set()
        except (ProtocolViolation, anyio.ClosedResourceError, OSError) as err:
            reason = str(err)
        finally:
            self._fail_all(reason)

    def _fail_all(self, reason: str) -> None:
        if self._closed is None:
            self._closed = reason
        for waiter in self._waiters.values():
            waiter.done.set()
        self._waiters.clear()


@asynccontextmanager
async def open_client(path: str) -> AsyncIterator[TtrpcClient]:
    """Connect to the ttrpc server at unix socket `path`. Raises OSError if it is not there."""
    stream = await connect_unix(path)
    try:
        async with anyio.create_task_group() as tg:
            client = TtrpcClient(stream)
            tg.start_soon(client._read)
            try:
                yield client
            finally:
                tg.cancel_scope.cancel()
    finally:
        await stream.aclose()
