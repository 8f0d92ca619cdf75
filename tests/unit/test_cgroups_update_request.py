"""`update`'s request: runc's flag rules, `-r` JSON over zeros, and the stored-config quirk."""

from __future__ import annotations

import pytest

from shim.cli.update import from_flags, ram_in_bytes
from shim.errors import InvalidConfig, Unsupported
from shim.runtime.update_request import from_json, stored_resources


def _flags(given: dict[str, str | int], warnings: list[str] | None = None) -> object:
    strings = {k: v for k, v in given.items() if isinstance(v, str)}
    ints = {k: v for k, v in given.items() if isinstance(v, int)}
    sink = [] if warnings is None else warnings
    return from_flags(strings, ints, frozenset(given), sink.append)


@pytest.mark.parametrize(
    ("text", "value"),
    [("512", 512), ("20M", 20 << 20), ("1g", 1 << 30), ("1.5GiB", 3 << 29), ("10 kb", 10240)],
)
def test_memory_sizes_take_units(text: str, value: int) -> None:
    assert ram_in_bytes(text) == value


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("memory", "abc", "invalid value for memory: invalid size: 'abc'"),
        (
            "cpu-share",
            "x",
            'invalid value for cpu-share: strconv.ParseUint: parsing "x": invalid syntax',
        ),
        (
            "cpu-quota",
            "1.5",
            'invalid value for cpu-quota: strconv.ParseInt: parsing "1.5": invalid syntax',
        ),
    ],
)
def test_bad_flag_values_give_runcs_messages(flag: str, value: str, message: str) -> None:
    with pytest.raises(InvalidConfig) as err:
        _flags({flag: value})
    assert str(err.value) == message


def test_flags_fill_runcs_zeros() -> None:
    res = _flags({"memory": "20M", "memory-swap": "-1", "cpu-quota": "-1", "pids-limit": 7})
    from shim.spec.resources import Resources

    assert isinstance(res, Resources)
    assert res.memory is not None
    assert res.cpu is not None
    assert (res.memory.limit, res.memory.swap, res.memory.reservation) == (20 << 20, -1, 0)
    assert (res.cpu.quota, res.cpu.period, res.cpu.shares) == (-1, 0, 0)
    assert res.pids is not None
    assert res.pids.limit == 7


def test_kernel_memory_flags_only_warn() -> None:
    warnings: list[str] = []
    _flags({"kernel-memory": "1M"}, warnings)
    assert warnings == ["Kernel memory settings are ignored and will be removed"]


def test_intel_rdt_flags_are_refused() -> None:
    with pytest.raises(Unsupported, match="Intel RDT"):
        _flags({"l3-cache-schema": "L3:0=f"})


def test_json_is_decoded_over_zeros_and_unknown_keys_ignored() -> None:
    res = from_json(b'{"memory":{"limit":209715200},"cpu":{"shares":256},"what":1}')
    assert res.memory is not None
    assert res.cpu is not None
    assert (res.memory.limit, res.memory.swap) == (209715200, 0)
    assert (res.cpu.shares, res.cpu.quota) == (256, 0)


def test_bad_json_is_refused() -> None:
    with pytest.raises(InvalidConfig, match=r"^resources: "):
        from_json(b"{bad")


def test_the_stored_config_gets_zeros_for_what_was_not_given() -> None:
    old = {
        "devices": [{"allow": False, "access": "rwm"}],
        "memory": {"limit": 100, "swappiness": 10},
        "cpu": {"quota": 5000, "shares": 512},
        "pids": {"limit": 9},
    }
    stored = stored_resources(old, from_json(b'{"memory":{"limit":200}}'))
    assert stored["devices"] == old["devices"]
    assert stored["memory"] == {"limit": 200, "swappiness": 10, "reservation": 0, "swap": 0}
    cpu = stored["cpu"]
    assert isinstance(cpu, dict)
    assert (cpu["quota"], cpu["shares"]) == (0, 0)
    assert stored["pids"] == {"limit": 0}
