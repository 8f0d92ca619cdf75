"""The services registry: which (service, method) pairs the ttrpc server answers, and how.

A method is a RawHandler: request payload bytes in, reply payload bytes out. `unary`
builds one from a typed handler (protobuf request in, protobuf reply out), so a
service is a plain mapping of method names to typed coroutines:

    registry.register("containerd.task.v2.Task", {"State": unary(StateRequest, svc.state)})

Lookups that miss answer Unimplemented with ttrpc's own texts (`service X`, `method Y`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from shim.shimv2.ttrpc_status import Code, TtrpcError


class CallContext:
    """What a handler knows about its call besides the request."""

    __slots__ = ("_after_reply", "metadata", "method", "service")

    def __init__(self, service: str, method: str, metadata: tuple[tuple[str, str], ...]) -> None:
        self.service, self.method, self.metadata = service, method, metadata
        self._after_reply: list[Callable[[], None]] = []

    def call_after_reply(self, action: Callable[[], None]) -> None:
        """Run `action` once the reply is written (Shutdown: exit only after answering)."""
        self._after_reply.append(action)

    def replied(self) -> None:
        """The server calls this after writing the reply (OK or error)."""
        actions, self._after_reply = self._after_reply, []
        for action in actions:
            action()


RawHandler = Callable[[bytes, CallContext], Awaitable[bytes]]
Req = TypeVar("Req", bound=Message)


def unary(
    request_type: type[Req], handler: Callable[[Req, CallContext], Awaitable[Message]]
) -> RawHandler:
    """A RawHandler that decodes `request_type`, awaits `handler` and encodes its reply.

    A payload that does not decode answers Internal, as Go's ttrpc does.
    """

    async def call(payload: bytes, ctx: CallContext) -> bytes:
        request = request_type()
        try:
            request.ParseFromString(payload)
        except DecodeError as err:
            raise TtrpcError(Code.INTERNAL, f"ttrpc: error unmarshalling payload: {err}") from None
        reply = await handler(request, ctx)
        return reply.SerializeToString()

    return call


class ServiceRegistry:
    def __init__(self) -> None:
        self._services: dict[str, dict[str, RawHandler]] = {}

    def register(self, service: str, methods: Mapping[str, RawHandler]) -> None:
        """Serve `service`. Raises ValueError if it is registered already."""
        if service in self._services:
            raise ValueError(f"duplicate service {service} registered")
        self._services[service] = dict(methods)

    def lookup(self, service: str, method: str) -> RawHandler:
        """The handler, or TtrpcError Unimplemented `service <name>` / `method <name>`."""
        methods = self._services.get(service)
        if methods is None:
            raise TtrpcError(Code.UNIMPLEMENTED, f"service {service}")
        handler = methods.get(method)
        if handler is None:
            raise TtrpcError(Code.UNIMPLEMENTED, f"method {method}")
        return handler

    def services(self) -> list[str]:
        return sorted(self._services)
