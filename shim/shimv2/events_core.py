"""Task events on their way to containerd, sans-IO: topics, envelopes, the queue, the retry rule.

Each event is sealed when it is published: its topic, the Any that carries it
(type URL `containerd.events.<Name>`), and the time it happened, so a retry later
still tells containerd when. Two ways out (spec section 8.2):

  ttrpc   Events/Forward(ForwardRequest{Envelope{timestamp, namespace, topic, event}})
  binary  `<publish-binary> --address <grpc> publish --topic T --namespace NS`, Any on stdin

The queue is bounded and keeps order. When it is full the new event is dropped and
counted (`dropped`), never an older one: containerd and CRI read an exit only after
its create and start, and a gap at the end is the smaller harm.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message

from shim.shimv2.proto import events_task_pb2, events_ttrpc_pb2
from shim.shimv2.ttrpc_status import Code

EVENTS_SERVICE = "containerd.services.events.ttrpc.v1.Events"
TOPICS: dict[str, str] = {
    "containerd.events.TaskCreate": "/tasks/create",
    "containerd.events.TaskStart": "/tasks/start",
    "containerd.events.TaskExit": "/tasks/exit",
    "containerd.events.TaskDelete": "/tasks/delete",
    "containerd.events.TaskOOM": "/tasks/oom",
    "containerd.events.TaskExecAdded": "/tasks/exec-added",
    "containerd.events.TaskExecStarted": "/tasks/exec-started",
    "containerd.events.TaskPaused": "/tasks/paused",
    "containerd.events.TaskResumed": "/tasks/resumed",
    "containerd.events.TaskCheckpointed": "/tasks/checkpointed",
}
# Statuses worth another try: containerd is (re)starting or slow. Anything else means it
# read the event and refused it; sending it again would be refused again.
RETRY_CODES = frozenset((Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED, Code.CANCELED))
_ = events_task_pb2  # the messages TOPICS names: imported so their types are registered


class Sealed(NamedTuple):
    topic: str
    event: bytes  # a serialized google.protobuf.Any
    forward: bytes  # a serialized ForwardRequest (the Envelope, stamped)


def topic_of(event: Message) -> str:
    """The topic of a containerd task event. Raises ValueError for any other message."""
    name = event.DESCRIPTOR.full_name
    try:
        return TOPICS[name]
    except KeyError:
        raise ValueError(f"not a containerd task event: {name}") from None


def seal(namespace: str, event: Message, when_ns: int) -> Sealed:
    """Topic, Any and Envelope of `event`, stamped with `when_ns` (time.time_ns())."""
    topic = topic_of(event)
    wrapped = any_pb2.Any(type_url=event.DESCRIPTOR.full_name, value=event.SerializeToString())
    stamp = timestamp_pb2.Timestamp(seconds=when_ns // 10**9, nanos=when_ns % 10**9)
    envelope = events_ttrpc_pb2.Envelope(
        timestamp=stamp, namespace=namespace, topic=topic, event=wrapped
    )
    forward = events_ttrpc_pb2.ForwardRequest(envelope=envelope)
    return Sealed(topic, wrapped.SerializeToString(), forward.SerializeToString())


class EventQueue:
    """In-order, bounded. `put` never blocks: past `capacity` it drops the new event."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[Sealed] = deque()
        self.dropped = 0

    def put(self, item: Sealed) -> bool:
        """False (and counted in `dropped`) if the queue was full."""
        if len(self._items) >= self.capacity:
            self.dropped += 1
            return False
        self._items.append(item)
        return True

    def head(self) -> Sealed | None:
        return self._items[0] if self._items else None

    def pop(self) -> None:
        """The head was delivered (or given up on)."""
        self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)


class Backoff:
    """Delays between attempts: doubling from `first` up to `cap`, reset on success."""

    def __init__(self, first: float = 0.05, cap: float = 2.0) -> None:
        self.first, self.cap = first, cap
        self._next = first

    def next(self) -> float:
        delay, self._next = self._next, min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.first


def publish_argv(binary: str, grpc_address: str, namespace: str, topic: str) -> list[str]:
    """containerd's `publish` command line (cmd/containerd/command/publish.go)."""
    return [
        binary,
        "--address",
        grpc_address,
        "publish",
        "--topic",
        topic,
        "--namespace",
        namespace,
    ]
