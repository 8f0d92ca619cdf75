"""linux.resources values refused before anything is written, each naming its field."""

from __future__ import annotations

import pytest

from shim.cgroups.checks import check_resources, parse_cpu_list
from shim.errors import InvalidConfig, Unsupported
from shim.record_decoder import decode_json
from shim.spec.resources import Resources


def _res(raw: str) -> Resources:
    return decode_json(raw, Resources)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"memory":{"limit":-5}}', "linux.resources.memory.limit"),
        ('{"memory":{"reservation":-2}}', "linux.resources.memory.reservation"),
        ('{"memory":{"limit":100,"swap":50}}', "linux.resources.memory.swap"),
        ('{"memory":{"swappiness":101}}', "linux.resources.memory.swappiness"),
        ('{"cpu":{"cpus":"9-1"}}', "linux.resources.cpu.cpus"),
        ('{"cpu":{"cpus":"0,a"}}', "linux.resources.cpu.cpus"),
        ('{"cpu":{"mems":"-1"}}', "linux.resources.cpu.mems"),
        ('{"cpu":{"shares":1}}', "linux.resources.cpu.shares"),
        ('{"cpu":{"shares":300000}}', "linux.resources.cpu.shares"),
        ('{"cpu":{"quota":-7}}', "linux.resources.cpu.quota"),
        ('{"cpu":{"quota":10}}', "linux.resources.cpu.quota"),
        ('{"cpu":{"period":10}}', "linux.resources.cpu.period"),
        ('{"cpu":{"idle":2}}', "linux.resources.cpu.idle"),
        ('{"blockIO":{"weight":5}}', "linux.resources.blockIO.weight"),
        (
            '{"blockIO":{"weightDevice":[{"major":8,"minor":0,"weight":2000}]}}',
            "linux.resources.blockIO.weightDevice[0].weight",
        ),
        (
            '{"blockIO":{"throttleReadBpsDevice":[{"major":-1,"minor":0,"rate":1}]}}',
            "linux.resources.blockIO.throttleReadBpsDevice[0]",
        ),
        ('{"hugepageLimits":[{"pageSize":"2XB","limit":1}]}', "linux.resources.hugepageLimits[0]"),
        ('{"devices":[{"allow":true,"type":"x"}]}', "linux.resources.devices[0].type"),
        ('{"devices":[{"allow":true,"access":"xa"}]}', "linux.resources.devices[0].access"),
        ('{"unified":{"../memory.max":"1"}}', "linux.resources.unified"),
        ('{"unified":{"memorymax":"1"}}', "linux.resources.unified"),
        ('{"unified":{"cgroup.procs":"1"}}', "linux.resources.unified"),
        ('{"network":{"priorities":[{"name":"a b","priority":1}]}}', "linux.resources.network"),
    ],
)
def test_bad_value_is_refused_naming_its_field(raw: str, field: str) -> None:
    with pytest.raises(InvalidConfig) as err:
        check_resources(_res(raw))
    assert str(err.value).startswith(field), str(err.value)


@pytest.mark.parametrize(
    "raw",
    [
        "{}",
        '{"memory":{"limit":-1,"swap":-1,"reservation":0,"swappiness":0}}',
        '{"memory":{"limit":33554432,"swap":67108864,"disableOOMKiller":true}}',
        '{"cpu":{"shares":1024,"quota":-1,"period":100000,"cpus":"0-1,3","mems":"0"}}',
        '{"cpu":{"quota":50000,"burst":1000,"idle":1,"realtimeRuntime":-1}}',
        '{"pids":{"limit":-1}}',
        '{"blockIO":{"weight":500,"leafWeight":10}}',
        '{"hugepageLimits":[{"pageSize":"2MB","limit":0},{"pageSize":"1GB","limit":0}]}',
        '{"network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5}]}}',
        '{"unified":{"memory.high":"max","io.max":"8:0 rbps=1"}}',
        '{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1}]}',
    ],
)
def test_good_values_pass(raw: str) -> None:
    check_resources(_res(raw))


def test_rdma_is_refused_explicitly() -> None:
    with pytest.raises(Unsupported, match=r"^linux\.resources\.rdma"):
        check_resources(_res('{"rdma":{"mlx":{"hcaHandles":1}}}'))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", [0]), ("0-3", [0, 1, 2, 3]), ("1,3-4", [1, 3, 4]), ("2-2", [2])],
)
def test_cpu_lists_parse(text: str, expected: list[int]) -> None:
    assert parse_cpu_list(text, "f") == expected


@pytest.mark.parametrize("text", ["", "9-1", "a", "1-", "-1", "1,,2", "0-70000"])
def test_bad_cpu_lists_are_refused(text: str) -> None:
    with pytest.raises(InvalidConfig, match=r"^f: invalid list"):
        parse_cpu_list(text, "f")
