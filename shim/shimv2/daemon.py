"""The long-running shim: serve ttrpc on the socket `start` made, publish events, then exit.

    containerd-shim-pyshim-v1 -namespace N -id I -address A -publish-binary P [-debug] [-socket S]

Start-up (spec section 4): stderr becomes the bundle's `log` fifo, written without
ever blocking (shim/io/log_sinks.py); we become the child subreaper; SIGPIPE stays
ignored; SIGTERM/SIGINT shut down. The listener is fd 3 (from `start`) or `-socket`.

The services: a ServiceRegistry with `containerd.task.v2.Task`, whose implementation
comes from `TASK_SERVICE_FACTORY`: an async context manager given the ShimContext,
entered before serving and left after (so the supervisor it wraps can own tasks):

    @asynccontextmanager
    async def task_service(ctx: ShimContext) -> AsyncIterator[TaskAPI]:
        async with Supervisor(...) as sup:
            yield TaskService(ctx, sup)          # a TaskServiceBase subclass

Exit (Lifecycle): the socket is unlinked first (a new `start` may bind it again at
once), the server stops, queued events get DRAIN_TIMEOUT to reach containerd.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio

from shim.logs import Logger
from shim.shimv2.flags import Flags
from shim.shimv2.lifecycle import Lifecycle
from shim.shimv2.publisher import Publisher
from shim.shimv2.services import ServiceRegistry
from shim.shimv2.task_api import TASK_SERVICE, TaskAPI, task_methods
from shim.shimv2.task_base import TaskServiceBase
from shim.shimv2.ttrpc_server import TtrpcServer
from shim.shimv2.unix_socket import listen_unix

DRAIN_TIMEOUT = 5.0  # runc-v2 waits as long for its publisher on shutdown
LISTEN_FD = 3


class ShimContext:
    """What the daemon knows, handed to the Task service factory."""

    def __init__(
        self, flags: Flags, bundle: str, lifecycle: Lifecycle, publisher: Publisher
    ) -> None:
        self.namespace, self.id, self.bundle = flags.namespace, flags.id, bundle
        self.grpc_address, self.debug = flags.address, flags.debug
        self.lifecycle, self.publisher = lifecycle, publisher
        self.registry = ServiceRegistry()  # a factory may register more services here


@asynccontextmanager
async def base_task_service(ctx: ShimContext) -> AsyncIterator[TaskAPI]:
    yield TaskServiceBase(ctx.lifecycle)


TaskServiceFactory = Callable[[ShimContext], AbstractAsyncContextManager[TaskAPI]]
TASK_SERVICE_FACTORY: TaskServiceFactory = base_task_service


def _open_listener(flags: Flags) -> tuple[socket.socket, str]:
    if flags.socket:
        path = flags.socket.removeprefix("unix://")
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return listen_unix(path), path
    sock = socket.socket(fileno=LISTEN_FD)
    if sock.family != socket.AF_UNIX:
        raise OSError(f"fd {LISTEN_FD} is not a unix socket")
    sock.set_inheritable(False)
    path = sock.getsockname()
    return sock, path if isinstance(path, str) else ""


def _unlink(path: str, log: Logger) -> None:
    if path:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            log.error(f"remove socket {path}: {err.strerror}")


async def _watch_signals(lifecycle: Lifecycle) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            lifecycle.request_shutdown(signal.Signals(signum).name)


async def serve(
    ctx: ShimContext, listener: socket.socket, path: str, factory: TaskServiceFactory, log: Logger
) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(ctx.publisher.run)
        tg.start_soon(_watch_signals, ctx.lifecycle)
        async with factory(ctx) as task_service:
            ctx.registry.register(TASK_SERVICE, task_methods(task_service))
            server = TtrpcServer(ctx.registry)
            log.info("serving", id=ctx.id, namespace=ctx.namespace, socket=path)
            async with anyio.create_task_group() as serving:
                serving.start_soon(server.serve, listener)
                await ctx.lifecycle.wait()
                log.info(f"shutting down: {ctx.lifecycle.reason}", id=ctx.id)
                _unlink(path, log)
                serving.cancel_scope.cancel()
        listener.close()
        with anyio.move_on_after(DRAIN_TIMEOUT):
            await ctx.publisher.drain()
        ctx.publisher.abandon()
        tg.cancel_scope.cancel()


def run_daemon(flags: Flags, log: Logger) -> int:
    """Serve until shut down. Returns the exit code."""
    from shim.sys import set_child_subreaper

    if not flags.namespace:
        log.error("shim namespace cannot be empty")
        return 1
    bundle = flags.bundle or os.getcwd()
    set_child_subreaper()
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # Python's default too: a dead peer is EPIPE
    try:
        listener, path = _open_listener(flags)
    except OSError as err:
        log.error(f"serve: no listener: {err}")
        return 1
    lifecycle = Lifecycle()
    ttrpc_address = os.environ.get("TTRPC_ADDRESS", "")
    publisher = Publisher(
        flags.namespace,
        ttrpc_address,
        publish_binary=flags.publish_binary,
        grpc_address=flags.address,
    )
    ctx = ShimContext(flags, bundle, lifecycle, publisher)
    from shim.shimv2.task_service import supervised_task_service

    backend = os.environ.get("SHIM_ASYNC_BACKEND", "asyncio")
    anyio.run(serve, ctx, listener, path, supervised_task_service, log, backend=backend)
    log.info("exit", id=flags.id)
    return 0
