"""The ttrpc server shell on anyio: many connections, concurrent calls on each.

Each request runs in its own task (Wait blocks for a process's lifetime while State
and Kill keep arriving on the same connection); replies go out in completion order
under one send lock. A connection whose bytes stop being ttrpc, or whose peer is not
our user, is closed with a logged error; nothing a peer sends ends the server.
When the peer closes, its calls still running are cancelled, as Go's ttrpc does:
nobody is left to read their answers.
"""

from __future__ import annotations

import socket
import traceback
from collections.abc import Callable

import anyio
import anyio.abc

from shim.logs import get_logger
from shim.shimv2.peercred import check_same_user
from shim.shimv2.services import CallContext, ServiceRegistry
from shim.shimv2.ttrpc_framing import FrameTooLarge
from shim.shimv2.ttrpc_server_core import (
    Call,
    ProtocolViolation,
    Reject,
    ServerConnection,
    encode_error,
    encode_reply,
)
from shim.shimv2.ttrpc_status import Code, TtrpcError, status_of
from shim.shimv2.unix_socket import UnixStream, accept

READ_SIZE = 1 << 16
PeerCheck = Callable[[socket.socket], "str | None"]


class TtrpcServer:
    def __init__(self, registry: ServiceRegistry, check_peer: PeerCheck = check_same_user) -> None:
        self.registry = registry
        self._check_peer = check_peer
        self.connections = 0  # open now

    async def serve(self, listener: socket.socket) -> None:
        """Accept on a listening unix socket (non-blocking) and serve until cancelled."""
        listener.setblocking(False)
        async with anyio.create_task_group() as tg:
            while True:
                try:
                    stream = await accept(listener)
                except OSError as err:  # EMFILE and friends: log, keep the listener
                    get_logger().error(f"ttrpc: accept: {err}")
                    await anyio.sleep(0.1)
                    continue
                tg.start_soon(self.serve_connection, stream)

    async def serve_connection(self, stream: UnixStream) -> None:
        """Serve one connection until the peer leaves or breaks the protocol."""
        log = get_logger()
        refusal = self._check_peer(stream.sock)
        if refusal is not None:
            log.error(f"ttrpc: connection refused: {refusal}")
            await stream.aclose()
            return
        self.connections += 1
        conn = _Connection(stream, self.registry)
        try:
            await conn.run()
        except ProtocolViolation as err:
            log.error(f"ttrpc: closing connection: {err}")
        finally:
            self.connections -= 1
            await stream.aclose()


class _Connection:
    def __init__(self, stream: UnixStream, registry: ServiceRegistry) -> None:
        self._stream, self._registry = stream, registry
        self._protocol = ServerConnection()
        self._send_lock = anyio.Lock()

    async def run(self) -> None:
        """Read until EOF. Raises ProtocolViolation when the bytes stop being ttrpc."""
        violation: ProtocolViolation | None = None
        async with anyio.create_task_group() as tg:
            try:
                await self._read(tg)
            except ProtocolViolation as err:
                violation = err
            finally:
                tg.cancel_scope.cancel()  # peer gone, or protocol broken: nobody reads answers
        if violation is not None:
            raise violation

    async def _read(self, tg: anyio.abc.TaskGroup) -> None:
        while True:
            try:
                chunk = await self._stream.receive(READ_SIZE)
            except OSError:  # ECONNRESET: the peer is gone
                return
            if not chunk:
                self._protocol.eof()
                return
            for event in self._protocol.receive(chunk):
                if isinstance(event, Reject):
                    frame = encode_error(event.stream_id, event.code, event.message)
                    tg.start_soon(self._send, frame, tg.cancel_scope)
                else:
                    tg.start_soon(self._answer, event, tg.cancel_scope)

    async def _answer(self, call: Call, scope: anyio.CancelScope) -> None:
        ctx = CallContext(call.service, call.method, call.metadata)
        log = get_logger()
        if log.enabled("debug"):
            log.debug(f"ttrpc: {call.service}/{call.method}", stream=call.stream_id)
        deadline = call.timeout_nano / 1e9 if call.timeout_nano > 0 else None
        try:
            handler = self._registry.lookup(call.service, call.method)
            with anyio.fail_after(deadline):
                payload = await handler(call.payload, ctx)
        except TimeoutError:
            text = "context deadline exceeded"
            frame = encode_error(call.stream_id, Code.DEADLINE_EXCEEDED, text)
        except Exception as err:
            code, message = status_of(err)
            if not isinstance(err, TtrpcError):
                _log_failure(call, err, code)
            frame = encode_error(call.stream_id, code, message)
        else:
            try:
                frame = encode_reply(call.stream_id, payload)
            except FrameTooLarge as err:
                frame = encode_error(call.stream_id, Code.RESOURCE_EXHAUSTED, str(err))
        if await self._send(frame, scope):
            ctx.replied()

    async def _send(self, frame: bytes, scope: anyio.CancelScope) -> bool:
        try:
            async with self._send_lock:
                await self._stream.send(frame)
        except (anyio.ClosedResourceError, OSError):
            scope.cancel()  # the peer is gone: stop the whole connection
            return False
        return True


def _log_failure(call: Call, err: Exception, code: int) -> None:
    log = get_logger()
    where = f"{call.service}/{call.method}"
    if code == Code.UNKNOWN:  # untyped: a bug or an unexpected failure; keep its traceback
        text = "".join(traceback.format_exception(err)).rstrip()
        log.error(f"ttrpc: {where} failed: {text}")
    else:
        log.info(f"ttrpc: {where} failed: {err}")
