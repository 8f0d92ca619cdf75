"""`update`: runc's flags (docker's size units, Go's integer syntax) or `-r FILE|-` with a
LinuxResources JSON, applied to the container's cgroups.

runc starts from zeros for every field it updates and fills in the flags given, so a
field not given is 0: "leave alone" to the cgroup drivers (`shim.runtime.update_request`).
"""

from __future__ import annotations

import sys

from shim.cli.common import store_of as _store
from shim.errors import InvalidConfig, ShimError, Unsupported
from shim.logs import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from shim.cli.args import Invocation
    from shim.spec.resources import Resources


def cmd_update(inv: Invocation) -> int:
    from shim.runtime.update import update_container

    source = inv.flag_str("resources")
    if source:
        from shim.runtime.update_request import from_json

        res = from_json(_read_resources(source))
    else:
        strings = {k: v for k, v in inv.flags.items() if isinstance(v, str)}
        ints = {k: v for k, v in inv.flags.items() if isinstance(v, int)}
        res = from_flags(strings, ints, inv.given, get_logger().warning)
    update_container(_store(inv), inv.args[0], res)
    return 0


def _read_resources(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        with open(source, "rb") as f:
            return f.read()
    except OSError as err:
        raise ShimError(f"open {source}: {(err.strerror or str(err)).lower()}") from None


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_UINT_FLAGS = (
    ("cpu-period", "period"),
    ("cpu-rt-period", "realtime_period"),
    ("cpu-share", "shares"),
)
_INT_FLAGS = (("cpu-quota", "quota"), ("cpu-rt-runtime", "realtime_runtime"))
_MEMORY_FLAGS = (
    ("memory", "limit"),
    ("memory-swap", "swap"),
    ("memory-reservation", "reservation"),
)


def ram_in_bytes(text: str) -> int:
    """docker's units.RAMInBytes: `20M`, `1g`, `1.5GiB`, `512` (binary multiples).

    Its pattern: `^(\\d+(\\.\\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`.
    """
    end = len(text) - len(text.lstrip("0123456789."))
    number, rest = text[:end], text[end:].removeprefix(" ")
    unit = rest[:1].lower() if rest[:1].lower() in ("k", "m", "g", "t", "p") else ""
    rest = rest[len(unit) :]
    rest = rest[1:] if rest[:1] in ("i", "I") else rest
    rest = rest[1:] if rest[:1] in ("b", "B") else rest
    parts = number.split(".")
    if rest or number.count(".") > 1 or not all(p.isdigit() for p in parts):
        raise InvalidConfig(f"invalid size: '{text}'")
    return int(float(number) * _UNITS[unit])


def _parse_uint(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    if int(text) >= 1 << 64:
        raise ValueError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return int(text)


def _parse_int(text: str) -> int:
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isdigit():
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    if not -(1 << 63) <= int(text) < 1 << 63:
        raise ValueError(f'strconv.ParseInt: parsing "{text}": value out of range')
    return int(text)


def _parse_memory(text: str) -> int:
    try:
        return -1 if text == "-1" else ram_in_bytes(text)
    except InvalidConfig as err:
        raise ValueError(str(err)) from None


def from_flags(
    strings: Mapping[str, str],
    ints: Mapping[str, int],
    given: frozenset[str],
    warn: Callable[[str], None],
) -> Resources:
    """runc's flag rules; errors read `invalid value for memory: invalid size: 'abc'`."""
    from shim.spec.resources import CPU, BlockIO, Memory, Pids, Resources

    cpu = CPU(shares=0, quota=0, period=0, realtime_runtime=0, realtime_period=0)
    memory = Memory(limit=0, reservation=0, swap=0)
    parsers: list[tuple[tuple[tuple[str, str], ...], Callable[[str], int], CPU | Memory]] = [
        (_UINT_FLAGS, _parse_uint, cpu),
        (_INT_FLAGS, _parse_int, cpu),
        (_MEMORY_FLAGS, _parse_memory, memory),
    ]
    for flags, parse, target in parsers:
        for flag, attr in flags:
            if text := strings.get(flag, ""):
                try:
                    setattr(target, attr, parse(text))
                except ValueError as err:
                    raise InvalidConfig(f"invalid value for {flag}: {err}") from None
    cpu.cpus, cpu.mems = strings.get("cpuset-cpus", ""), strings.get("cpuset-mems", "")
    if strings.get("kernel-memory") or strings.get("kernel-memory-tcp"):
        warn("Kernel memory settings are ignored and will be removed")
    for flag, what in (
        ("l3-cache-schema", "l3 cache schema"),
        ("mem-bw-schema", "memory bandwidth schema"),
    ):
        if strings.get(flag):
            raise Unsupported(f"Intel RDT: {what} is not supported by this runtime")
    weight = ints.get("blkio-weight", 0) if "blkio-weight" in given else 0
    if not 0 <= weight < 1 << 16:
        raise InvalidConfig(f"invalid value for blkio-weight: {weight}")
    return Resources(
        memory=memory,
        cpu=cpu,
        block_io=BlockIO(weight=weight),
        pids=Pids(limit=ints.get("pids-limit", 0)),
    )
