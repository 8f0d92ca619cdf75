"""load_spec / load_process: JSON to Records, errors with the field's path."""

from __future__ import annotations

import json

import pytest

from shim.errors import InvalidConfig
from shim.json_codec import dumps
from shim.record_decoder import decode_json
from shim.records import to_builtins
from shim.spec import default_config, load_process, load_spec
from shim.spec.default import cgroup2_unified
from shim.spec.model import Spec

_FULL_LINUX = {
    "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
    "timeOffsets": {"monotonic": {"secs": 10, "nanosecs": 5}},
    "devices": [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 438}],
    "cgroupsPath": "/a/b",
    "resources": {
        "devices": [{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
        "memory": {"limit": 1 << 30, "kernelTCP": 5, "disableOOMKiller": True},
        "cpu": {"shares": 512, "realtimeRuntime": 1000, "cpus": "0-1", "idle": 1},
        "pids": {"limit": 64},
        "blockIO": {
            "weight": 500,
            "weightDevice": [{"major": 8, "minor": 0, "weight": 10}],
            "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 200}],
        },
        "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
        "network": {"classID": 7, "priorities": [{"name": "eth0", "priority": 3}]},
        "rdma": {"mlx5_1": {"hcaHandles": 3}},
        "unified": {"memory.high": "max"},
    },
    "rootfsPropagation": "rslave",
    "seccomp": {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "listenerPath": "/run/l.sock",
        "listenerMetadata": "m",
        "syscalls": [
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "errnoRet": 2,
                "args": [{"index": 0, "value": 8, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"}],
            }
        ],
    },
    "sysctl": {"net.ipv4.ip_forward": "1"},
    "mountLabel": "system_u:object_r:container_file_t:s0",
    "intelRdt": {"closID": "g1", "l3CacheSchema": "L3:0=f", "enableCMT": True},
    "personality": {"domain": "LINUX32", "flags": []},
}


def test_runc_default_config_loads() -> None:
    spec = load_spec(default_config(rootless=False))
    assert spec.oci_version == "1.0.2-dev"
    assert spec.process is not None
    assert spec.process.args == ["sh"]
    assert spec.process.no_new_privileges
    assert spec.root is not None
    assert spec.root.readonly
    assert spec.linux is not None
    assert spec.linux.resources is not None
    assert spec.linux.resources.devices[0].access == "rwm"
    cgroupns = ["cgroup"] if cgroup2_unified() else []  # runc spec's rule on a v2-only host
    kinds = [ns.type for ns in spec.linux.namespaces]
    assert kinds == ["pid", "network", "ipc", "uts", "mount", *cgroupns]


def test_fields_whose_json_names_are_not_plain_camel_case_load() -> None:
    spec = load_spec(json.dumps({"ociVersion": "1.2.0", "linux": _FULL_LINUX}).encode())
    linux = spec.linux
    assert linux is not None
    assert linux.uid_mappings[0].host_id == 100000
    assert linux.uid_mappings[0].container_id == 0
    assert linux.devices[0].file_mode == 0o666
    assert linux.time_offsets["monotonic"].nanosecs == 5
    res = linux.resources
    assert res is not None
    assert res.memory is not None
    assert (res.memory.kernel_tcp, res.memory.disable_oom_killer) == (5, True)
    assert res.cpu is not None
    assert res.cpu.realtime_runtime == 1000
    assert res.block_io is not None
    assert res.block_io.throttle_read_iops_device[0].rate == 100
    assert res.block_io.throttle_write_iops_device[0].rate == 200
    assert res.network is not None
    assert res.network.class_id == 7
    assert res.rdma["mlx5_1"].hca_handles == 3
    assert linux.intel_rdt is not None
    assert (linux.intel_rdt.clos_id, linux.intel_rdt.enable_cmt) == ("g1", True)
    assert linux.seccomp is not None
    assert linux.seccomp.syscalls[0].args[0].op == "SCMP_CMP_MASKED_EQ"


def test_encoding_uses_the_spec_names_and_round_trips() -> None:
    spec = load_spec(json.dumps({"ociVersion": "1.2.0", "linux": _FULL_LINUX}).encode())
    encoded = json.loads(dumps(to_builtins(spec)))
    assert encoded["linux"] == _FULL_LINUX | {"personality": {"domain": "LINUX32"}}
    assert decode_json(dumps(to_builtins(spec)), Spec) == spec


def test_process_fields_load() -> None:
    process = load_process(
        json.dumps(
            {
                "terminal": True,
                "consoleSize": {"height": 24, "width": 80},
                "user": {"uid": 1, "gid": 2, "umask": 18, "additionalGids": [3], "username": "u"},
                "args": ["sh"],
                "cwd": "/",
                "oomScoreAdj": -500,
                "apparmorProfile": "p",
                "selinuxLabel": "l",
                "ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": 4},
                "scheduler": {"policy": "SCHED_FIFO", "priority": 10},
                "execCPUAffinity": {"initial": "0", "final": "0-3"},
            }
        ).encode()
    )
    assert process.console_size is not None
    assert process.console_size.width == 80
    assert process.user.umask == 0o22
    assert process.user.additional_gids == [3]
    assert process.oom_score_adj == -500
    assert process.io_priority is not None
    assert process.io_priority.class_ == "IOPRIO_CLASS_RT"
    assert process.exec_cpu_affinity is not None
    assert process.exec_cpu_affinity.final == "0-3"


def test_unknown_fields_are_ignored() -> None:
    raw = b'{"ociVersion": "1.0.0", "vm": {}, "process": {"args": ["a"], "future": 1}}'
    spec = load_spec(raw)
    assert spec.process is not None
    assert spec.process.args == ["a"]


def test_missing_sections_default_to_none_or_empty() -> None:
    spec = load_spec(b"{}")
    assert (spec.process, spec.root, spec.linux, spec.hooks) == (None, None, None, None)
    assert spec.mounts == []
    assert spec.annotations == {}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "config.json: Input data was truncated"),
        (b"{", "config.json: Input data was truncated"),
        (b"[]", "config.json: Expected `object`, got `array`"),
        (b'{"process": {"args": ["a", 1]}}', "`str`, got `int` - at `$.process.args[1]`"),
        (b'{"process": {"user": {"uid": -1}}}', "`int` >= 0 - at `$.process.user.uid`"),
        (
            b'{"linux": {"uidMappings": [{"containerID": 0, "hostID": 4294967296, "size": 1}]}}',
            "at `$.linux.uidMappings[0].hostID`",
        ),
        (
            b'{"mounts": [{"type": "tmpfs"}]}',
            "missing required field `destination` - at `$.mounts[0]`",
        ),
    ],
)
def test_decode_errors_name_the_path(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidConfig, match=r"^config\.json: ") as caught:
        load_spec(raw)
    assert message in str(caught.value)


def test_load_process_names_its_source() -> None:
    with pytest.raises(InvalidConfig, match=r"^/tmp/p.json: .*\$\.cwd"):
        load_process(b'{"cwd": 1}', "/tmp/p.json")


def test_every_truncation_of_a_config_is_an_invalid_config() -> None:
    raw = default_config(rootless=False)
    for end in range(len(raw) - 1):  # the last byte is "}", so every prefix is cut short
        with pytest.raises(InvalidConfig, match=r"^config\.json: "):
            load_spec(raw[:end])


@pytest.mark.parametrize(
    "garbage", [b"\xff\xfe", b"null", b'"config"', b"1e999", b'{"process": []}', b"{}{}"]
)
def test_garbage_is_an_invalid_config(garbage: bytes) -> None:
    with pytest.raises(InvalidConfig, match=r"^config\.json: "):
        load_spec(garbage)
