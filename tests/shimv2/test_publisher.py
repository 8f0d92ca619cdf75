"""The event publisher: envelopes, order, a containerd that comes and goes, the publish binary."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import anyio
import pytest
from google.protobuf import any_pb2
from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import Message

from shim.shimv2.events_core import EVENTS_SERVICE, Backoff, EventQueue, seal, topic_of
from shim.shimv2.proto import events_task_pb2 as ev
from shim.shimv2.proto import events_ttrpc_pb2, shim_pb2
from shim.shimv2.publisher import Publisher
from shim.shimv2.services import CallContext, ServiceRegistry, unary
from shim.shimv2.ttrpc_status import Code, TtrpcError

from ._ttrpc_helpers import running_server


def test_seal_builds_containerds_envelope() -> None:
    sealed = seal(
        "k8s.io",
        ev.TaskExit(container_id="c1", id="c1", pid=7, exit_status=137),
        1_700_000_000_123_456_789,
    )
    assert sealed.topic == "/tasks/exit"
    forward = events_ttrpc_pb2.ForwardRequest.FromString(sealed.forward)
    env = forward.envelope
    assert (env.namespace, env.topic) == ("k8s.io", "/tasks/exit")
    assert (env.timestamp.seconds, env.timestamp.nanos) == (1_700_000_000, 123_456_789)
    assert env.event.type_url == "containerd.events.TaskExit"
    assert ev.TaskExit.FromString(env.event.value).exit_status == 137
    assert any_pb2.Any.FromString(sealed.event) == env.event


def test_every_task_event_has_its_topic_and_others_are_refused() -> None:
    topics: list[tuple[Message, str]] = [
        (ev.TaskCreate(), "/tasks/create"),
        (ev.TaskStart(), "/tasks/start"),
        (ev.TaskExit(), "/tasks/exit"),
        (ev.TaskDelete(), "/tasks/delete"),
        (ev.TaskOOM(), "/tasks/oom"),
        (ev.TaskExecAdded(), "/tasks/exec-added"),
        (ev.TaskExecStarted(), "/tasks/exec-started"),
        (ev.TaskPaused(), "/tasks/paused"),
        (ev.TaskResumed(), "/tasks/resumed"),
        (ev.TaskCheckpointed(), "/tasks/checkpointed"),
    ]
    for event, topic in topics:
        assert topic_of(event) == topic
    with pytest.raises(
        ValueError, match=r"not a containerd task event: containerd\.task\.v2\.StateRequest"
    ):
        topic_of(shim_pb2.StateRequest())


def test_full_queue_drops_the_new_event_and_keeps_order() -> None:
    queue = EventQueue(2)
    items = [seal("ns", ev.TaskOOM(container_id=str(i)), i) for i in range(3)]
    assert [queue.put(i) for i in items] == [True, True, False]
    assert queue.dropped == 1
    assert queue.head() == items[0]
    queue.pop()
    assert queue.head() == items[1]


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    backoff = Backoff(0.05, 0.3)
    assert [backoff.next() for _ in range(5)] == [0.05, 0.1, 0.2, 0.3, 0.3]
    backoff.reset()
    assert backoff.next() == 0.05


class FakeContainerd:
    """containerd's ttrpc Events service, as far as a shim sees it."""

    def __init__(self) -> None:
        self.envelopes: list[events_ttrpc_pb2.Envelope] = []
        self.changed = anyio.Event()

    async def forward(self, req: events_ttrpc_pb2.ForwardRequest, ctx: CallContext) -> Empty:
        env = req.envelope
        if not env.HasField("timestamp"):  # containerd's own check (spec 8.2)
            raise TtrpcError(Code.INVALID_ARGUMENT, "timestamp must be set on forwarded event")
        if (
            env.topic == "/tasks/oom"
            and ev.TaskOOM.FromString(env.event.value).container_id == "bad"
        ):
            raise TtrpcError(Code.INVALID_ARGUMENT, "refused")
        self.envelopes.append(env)
        self.changed.set()
        self.changed = anyio.Event()
        return Empty()

    async def until(self, n: int) -> None:
        while len(self.envelopes) < n:
            await self.changed.wait()

    def registry(self) -> ServiceRegistry:
        registry = ServiceRegistry()
        registry.register(
            EVENTS_SERVICE, {"Forward": unary(events_ttrpc_pb2.ForwardRequest, self.forward)}
        )
        return registry

    def ids(self) -> list[str]:
        return [ev.TaskOOM.FromString(e.event.value).container_id for e in self.envelopes]


@pytest.mark.anyio
async def test_events_arrive_in_order_across_containerd_restarts(tmp_path: Path) -> None:
    sock = tmp_path / "containerd.sock.ttrpc"
    fake = FakeContainerd()
    publisher = Publisher("default", str(sock), backoff=Backoff(0.01, 0.05))
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(publisher.run)
            for i in range(3):  # containerd is not there yet
                publisher.publish(ev.TaskOOM(container_id=f"a{i}"))
            async with running_server(sock, fake.registry()):
                await fake.until(3)
            os.unlink(sock)  # containerd stops ...
            for i in range(3):
                publisher.publish(ev.TaskOOM(container_id=f"b{i}"))
            publisher.publish(ev.TaskOOM(container_id="bad"))
            publisher.publish(ev.TaskOOM(container_id="c0"))
            async with running_server(sock, fake.registry()):  # ... and comes back
                with anyio.move_on_after(10):
                    await publisher.drain()
            tg.cancel_scope.cancel()
    assert fake.ids() == ["a0", "a1", "a2", "b0", "b1", "b2", "c0"]
    assert (publisher.delivered, publisher.refused, publisher.abandon()) == (7, 1, 0)
    stamps = [e.timestamp.ToNanoseconds() for e in fake.envelopes]
    assert stamps == sorted(stamps)  # stamped when published, not when sent
    assert {e.namespace for e in fake.envelopes} == {"default"}


@pytest.mark.anyio
async def test_drain_deadline_leaves_events_counted(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    publisher = Publisher("default", str(tmp_path / "nobody-here"), backoff=Backoff(0.01, 0.05))
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(publisher.run)
            publisher.publish(ev.TaskOOM(container_id="x"))
            with anyio.move_on_after(0.2):
                await publisher.drain()
            tg.cancel_scope.cancel()
    assert publisher.abandon() == 1
    publisher.publish(ev.TaskOOM(container_id="late"))
    assert len(publisher.queue) == 1
    err = capfd.readouterr().err
    assert "1 events not delivered" in err
    assert "published after shutdown: dropped" in err


@pytest.mark.anyio
async def test_publish_binary_fallback(tmp_path: Path) -> None:
    record = tmp_path / "calls"
    binary = tmp_path / "containerd"
    binary.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {record}\n'
        f"cat > {tmp_path}/stdin-$$\n"
        f"echo {tmp_path}/stdin-$$ >> {record}\n"
    )
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    publisher = Publisher(
        "k8s.io",
        "",
        publish_binary=str(binary),
        grpc_address="/run/x.sock",
        backoff=Backoff(0.01, 0.05),
    )
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(publisher.run)
            publisher.publish(ev.TaskStart(container_id="c1", pid=42))
            publisher.publish(ev.TaskExit(container_id="c1", id="c1", pid=42, exit_status=3))
            await publisher.drain()
            tg.cancel_scope.cancel()
    lines = (await anyio.Path(record).read_text()).splitlines()
    assert lines[0] == "--address /run/x.sock publish --topic /tasks/start --namespace k8s.io"
    assert lines[2] == "--address /run/x.sock publish --topic /tasks/exit --namespace k8s.io"
    first = any_pb2.Any.FromString(await anyio.Path(lines[1]).read_bytes())
    assert first.type_url == "containerd.events.TaskStart"
    assert ev.TaskStart.FromString(first.value).pid == 42
