"""The event publisher: task events to containerd, in order, none lost while it restarts.

    publisher = Publisher(namespace, ttrpc_address, publish_binary=..., grpc_address=...)
    async with anyio.create_task_group() as tg:
        tg.start_soon(publisher.run)
        publisher.publish(events_task_pb2.TaskStart(container_id="c1", pid=42))
        ...
        with anyio.move_on_after(5):   # on shutdown: deliver what is queued, within a deadline
            await publisher.drain()
        publisher.abandon()            # logs what is left

`publish` never blocks and never fails (a full queue drops the new event with an
error logged; events_core says why). `run` delivers the head of the queue until it
is accepted: over ttrpc (a connection kept and re-dialled on failure) when
TTRPC_ADDRESS is known, else or when that fails, through the publish binary; after a
round that failed it waits (backoff up to 2 s) and tries again, forever, so a
containerd that restarts gets every event once it is back. An event containerd
refused (InvalidArgument, ...) is logged and skipped: resending cannot help.
"""

from __future__ import annotations

import time

import anyio
from google.protobuf.message import Message

from shim.logs import get_logger
from shim.shimv2.events_core import (
    EVENTS_SERVICE,
    RETRY_CODES,
    Backoff,
    EventQueue,
    Sealed,
    publish_argv,
    seal,
)
from shim.shimv2.ttrpc_client import TtrpcClient, open_client
from shim.shimv2.ttrpc_status import Code, TtrpcError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.children import ChildReaper

FORWARD_TIMEOUT = 5.0  # per attempt; containerd answers in microseconds when it is up
BINARY_TIMEOUT = 10.0


class Publisher:
    def __init__(
        self,
        namespace: str,
        ttrpc_address: str,
        *,
        publish_binary: str = "",
        grpc_address: str = "",
        capacity: int = 4096,
        backoff: Backoff | None = None,
        reaper: ChildReaper | None = None,
    ) -> None:
        self.reaper = reaper  # the process's one reaper, set by the Task service
        self.namespace = namespace
        self.ttrpc_address = ttrpc_address
        self.publish_binary = publish_binary
        self.grpc_address = grpc_address
        self.queue = EventQueue(capacity)
        self.delivered = self.refused = 0
        self._backoff = backoff or Backoff()
        self._wakeup = anyio.Event()
        self._idle = anyio.Event()
        self._closed = False

    def publish(self, event: Message) -> None:
        """Queue a containerd task event, stamped now. Raises ValueError for another message."""
        sealed = seal(self.namespace, event, time.time_ns())
        if self._closed:
            get_logger().error(f"event {sealed.topic} published after shutdown: dropped")
            return
        if not self.queue.put(sealed):
            get_logger().error(
                f"event queue full ({self.queue.capacity}): {sealed.topic} dropped",
                dropped=self.queue.dropped,
            )
            return
        self._wakeup.set()

    async def run(self) -> None:
        """Deliver queued events until cancelled."""
        while True:
            await self._next()
            if self.ttrpc_address:
                try:
                    async with open_client(self.ttrpc_address) as client:
                        await self._pump(client)  # returns when the connection fails us
                except OSError as err:  # not there: containerd is down or restarting
                    get_logger().debug(f"events: connect {self.ttrpc_address}: {err}")
            item = self.queue.head()
            if item is not None and await self._try_binary(item):
                self._done(item)
                continue
            await anyio.sleep(self._backoff.next())

    async def drain(self) -> None:
        """Stop taking events; return once the queue is empty. Bound it with a cancel scope."""
        self._closed = True
        while len(self.queue):
            self._idle = anyio.Event()
            await self._idle.wait()

    def abandon(self) -> int:
        """How many events are left undelivered (logged as an error when some are)."""
        left = len(self.queue)
        if left:
            get_logger().error(f"shutdown: {left} events not delivered to containerd")
        return left

    async def _next(self) -> Sealed:
        while (item := self.queue.head()) is None:
            await self._wakeup.wait()
            self._wakeup = anyio.Event()
        return item

    def _done(self, item: Sealed, refused: str = "") -> None:
        if refused:
            self.refused += 1
            get_logger().error(f"event {item.topic} refused by containerd: {refused}")
        else:
            self.delivered += 1
            self._backoff.reset()
        self.queue.pop()
        if not len(self.queue):
            self._idle.set()

    async def _pump(self, client: TtrpcClient) -> None:
        """Forward events over one connection; return when it is time to reconnect."""
        while True:
            item = await self._next()
            try:
                with anyio.fail_after(FORWARD_TIMEOUT):
                    await client.call_raw(
                        EVENTS_SERVICE, "Forward", item.forward, int(FORWARD_TIMEOUT * 1e9)
                    )
            except TtrpcError as err:
                if err.code in RETRY_CODES:
                    return
                if err.code == Code.UNIMPLEMENTED and self.publish_binary:
                    return  # a containerd without the ttrpc events service: the binary, then
                self._done(item, refused=str(err))
                continue
            except (OSError, TimeoutError) as err:  # gone, or stuck: dial again
                get_logger().debug(f"events: forward {item.topic}: {err}")
                return
            self._done(item)

    async def _run(self, argv: list[str], data: bytes) -> tuple[int, bytes]:
        """The publish binary's exit code and stderr: through the supervisor's reaper when
        there is one (it owns every child of the shim), else anyio's."""
        if self.reaper is not None:
            from shim.supervisor.run_process import run_process

            exit_, stderr = await run_process(self.reaper, argv, input=data)
            return exit_.status, stderr
        result = await anyio.run_process(argv, input=data, check=False)
        return result.returncode, result.stderr

    async def _try_binary(self, item: Sealed) -> bool:
        if not (self.publish_binary and self.grpc_address):
            return False
        argv = publish_argv(self.publish_binary, self.grpc_address, self.namespace, item.topic)
        try:
            with anyio.fail_after(BINARY_TIMEOUT):
                exit_, stderr = await self._run(argv, item.event)
        except (OSError, TimeoutError) as err:
            get_logger().debug(f"publish {item.topic}: {err}")
            return False
        if exit_ != 0:
            text = stderr.decode(errors="replace").strip()
            get_logger().debug(f"publish {item.topic}: exit {exit_}: {text}")
            return False
        return True
