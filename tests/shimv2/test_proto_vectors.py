"""The generated messages against the wire facts of spec/containerd-shim-v2.md (6.2, 7.1, 8)."""

from __future__ import annotations

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message

from shim.shimv2.proto import (
    cgroups_v1_metrics_pb2,
    cgroups_v2_metrics_pb2,
    events_task_pb2,
    events_ttrpc_pb2,
    rpc_status_pb2,
    runc_options_pb2,
    runtimeoptions_pb2,
    shim_pb2,
    task_types_pb2,
    ttrpc_pb2,
)
from shim.shimv2.ttrpc_framing import REQUEST, RESPONSE, encode_frame


def test_connect_request_frame_matches_the_spec_vector() -> None:
    payload = shim_pb2.ConnectRequest(id="t1").SerializeToString()
    request = ttrpc_pb2.Request(
        service="containerd.task.v2.Task", method="Connect", payload=payload
    )
    frame = encode_frame(1, REQUEST, request.SerializeToString())
    expected = bytes.fromhex("00000028 00000001 01 00 0a17") + b"containerd.task.v2.Task"
    expected += bytes.fromhex("1207") + b"Connect" + bytes.fromhex("1a04 0a02") + b"t1"
    assert frame == expected


def test_not_found_reply_frame_matches_the_runc_shim_bytes() -> None:
    status = rpc_status_pb2.Status(code=5, message="container not created: not found")
    frame = encode_frame(3, RESPONSE, ttrpc_pb2.Response(status=status).SerializeToString())
    expected = bytes.fromhex("00000026 00000003 02 00 0a24 08 05 1220")
    assert frame == expected + b"container not created: not found"


def test_connect_reply_frame_matches_the_spec_vector() -> None:
    reply = shim_pb2.ConnectResponse(shim_pid=1234, task_pid=5678).SerializeToString()
    frame = encode_frame(1, RESPONSE, ttrpc_pb2.Response(payload=reply).SerializeToString())
    assert frame == bytes.fromhex("00000008 00000001 02 00 12 06 08 d209 10 ae2c")


def test_ok_empty_reply_is_a_zero_length_frame() -> None:
    frame = encode_frame(5, RESPONSE, ttrpc_pb2.Response(payload=b"").SerializeToString())
    assert frame == bytes.fromhex("00000000 00000005 02 00")


def test_runc_delete_reply_layout() -> None:
    # `08 90be01 10 89 01 1a 0c (08 <secs> 10 <nanos>)` (spec section 5)
    stamp = timestamp_pb2.Timestamp(seconds=1700000000, nanos=500000000)
    raw = shim_pb2.DeleteResponse(pid=24336, exit_status=137, exited_at=stamp).SerializeToString()
    assert raw.startswith(bytes.fromhex("08 90be01 10 8901 1a0c 08"))


def test_runtime_options_any_from_start_stdin() -> None:
    # spec 3.1: what `ctr run --runtime-config-path /etc/pyshim.toml` sends on start's stdin
    raw = bytes.fromhex("0a19") + b"runtimeoptions.v1.Options" + bytes.fromhex("1212 1210")
    raw += b"/etc/pyshim.toml"
    wrapped = any_pb2.Any.FromString(raw)
    assert wrapped.type_url == runtimeoptions_pb2.Options.DESCRIPTOR.full_name
    assert runtimeoptions_pb2.Options.FromString(wrapped.value).config_path == "/etc/pyshim.toml"


def test_package_names_give_containerd_type_urls() -> None:
    names: dict[type[Message], str] = {
        events_task_pb2.TaskExit: "containerd.events.TaskExit",
        events_ttrpc_pb2.Envelope: "containerd.services.events.ttrpc.v1.Envelope",
        runc_options_pb2.Options: "containerd.runc.v1.Options",
        runc_options_pb2.ProcessDetails: "containerd.runc.v1.ProcessDetails",
        runc_options_pb2.CheckpointOptions: "containerd.runc.v1.CheckpointOptions",
        cgroups_v1_metrics_pb2.Metrics: "io.containerd.cgroups.v1.Metrics",
        cgroups_v2_metrics_pb2.Metrics: "io.containerd.cgroups.v2.Metrics",
        task_types_pb2.ProcessInfo: "containerd.v1.types.ProcessInfo",
        ttrpc_pb2.Request: "ttrpc.Request",
        rpc_status_pb2.Status: "google.rpc.Status",
    }
    assert {cls.DESCRIPTOR.full_name for cls in names} == set(names.values())
    for cls, name in names.items():
        assert cls.DESCRIPTOR.full_name == name


def test_task_service_has_the_seventeen_methods() -> None:
    service = shim_pb2.DESCRIPTOR.services_by_name["Task"]
    assert service.full_name == "containerd.task.v2.Task"
    assert len(service.methods) == 17
    assert (
        service.methods_by_name["Wait"].output_type.full_name == "containerd.task.v2.WaitResponse"
    )
    assert service.methods_by_name["Kill"].output_type.full_name == "google.protobuf.Empty"


def _numbers(cls: type[Message]) -> dict[str, int]:
    return {f.name: f.number for f in cls.DESCRIPTOR.fields}


def test_field_numbers_of_section_7_1() -> None:
    assert _numbers(shim_pb2.CreateTaskRequest) == {
        "id": 1, "bundle": 2, "rootfs": 3, "terminal": 4, "stdin": 5, "stdout": 6,
        "stderr": 7, "checkpoint": 8, "parent_checkpoint": 9, "options": 10, "oom_path": 11,
    }  # fmt: skip
    assert _numbers(shim_pb2.StateResponse) == {
        "id": 1, "bundle": 2, "pid": 3, "status": 4, "stdin": 5, "stdout": 6, "stderr": 7,
        "terminal": 8, "exit_status": 9, "exited_at": 10, "exec_id": 11,
    }  # fmt: skip
    assert _numbers(shim_pb2.KillRequest) == {"id": 1, "exec_id": 2, "signal": 3, "all": 4}
    assert _numbers(shim_pb2.ConnectResponse) == {"shim_pid": 1, "task_pid": 2, "version": 3}
    assert _numbers(shim_pb2.UpdateTaskRequest) == {"id": 1, "resources": 2, "annotations": 3}
    assert task_types_pb2.Status.Value("PAUSING") == 5


def test_field_numbers_of_events_section_8_1() -> None:
    assert _numbers(events_task_pb2.TaskCreate) == {
        "container_id": 1, "bundle": 2, "rootfs": 3, "io": 4, "checkpoint": 5, "pid": 6,
    }  # fmt: skip
    assert _numbers(events_task_pb2.TaskDelete) == {
        "container_id": 1, "pid": 2, "exit_status": 3, "exited_at": 4, "id": 5,
    }  # fmt: skip
    assert _numbers(events_task_pb2.TaskExit) == {
        "container_id": 1, "id": 2, "pid": 3, "exit_status": 4, "exited_at": 5, "exit_reason": 6,
    }  # fmt: skip
    assert _numbers(events_ttrpc_pb2.Envelope) == {
        "timestamp": 1, "namespace": 2, "topic": 3, "event": 4,
    }  # fmt: skip


def test_cgroup_metrics_numbers() -> None:
    v1 = cgroups_v1_metrics_pb2
    assert _numbers(v1.Metrics)["memory_oom_control"] == 9
    assert _numbers(v1.MemoryStat)["kernel_tcp"] == 36
    assert len(v1.MemoryStat.DESCRIPTOR.fields) == 36
    assert _numbers(v1.BlkIOStat)["sectors_recursive"] == 8
    v2 = cgroups_v2_metrics_pb2
    assert _numbers(v2.Metrics) == {
        "pids": 1, "cpu": 2, "memory": 4, "rdma": 5, "io": 6, "hugetlb": 7,
        "memory_events": 8, "network": 9,
    }  # fmt: skip
    assert _numbers(v2.MemoryStat)["swap_max_usage"] == 37
    assert _numbers(v2.MemoryStat)["psi"] == 38
    assert _numbers(v2.CPUStat)["burst_usec"] == 9
    assert _numbers(v2.IOEntry) == {
        "major": 1,
        "minor": 2,
        "rbytes": 3,
        "wbytes": 4,
        "rios": 5,
        "wios": 6,
    }
