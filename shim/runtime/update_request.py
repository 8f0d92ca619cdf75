"""What `update` was asked for, as runc 1.1 reads it: flags or a LinuxResources JSON.

runc starts from zeros for every field it updates, then fills in the flags (or
decodes `-r` over the zeros), so a field not given is 0, which the cgroup drivers
read as "leave alone" and the stored config keeps as 0 (runc's quirk).
"""

from __future__ import annotations

from shim.errors import InvalidConfig, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from shim.spec.resources import Resources

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


def from_json(raw: bytes) -> Resources:
    """`-r`: a LinuxResources object decoded over runc's zeros; unknown keys ignored."""
    import msgspec

    from shim.spec.resources import CPU, BlockIO, Memory, Pids, Resources

    try:
        given = msgspec.json.decode(raw, type=Resources)
    except msgspec.DecodeError as err:
        raise InvalidConfig(f"resources: {err}") from None
    except RecursionError:
        raise InvalidConfig("resources: nested too deeply (exceeded max depth)") from None
    mem, cpu, bio = given.memory or Memory(), given.cpu or CPU(), given.block_io or BlockIO()
    return Resources(
        memory=Memory(
            limit=mem.limit or 0,
            reservation=mem.reservation or 0,
            swap=mem.swap or 0,
            check_before_update=mem.check_before_update,
        ),
        cpu=CPU(
            shares=cpu.shares or 0,
            quota=cpu.quota or 0,
            period=cpu.period or 0,
            realtime_runtime=cpu.realtime_runtime or 0,
            realtime_period=cpu.realtime_period or 0,
            cpus=cpu.cpus,
            mems=cpu.mems,
            burst=cpu.burst,
            idle=cpu.idle,
        ),
        block_io=BlockIO(weight=bio.weight or 0),
        pids=Pids(limit=given.pids.limit if given.pids else 0),
        unified=given.unified,
    )


def stored_resources(old: object, res: Resources) -> dict[str, object]:
    """`linux.resources` as runc stores it after an update: the updated fields (0 when
    not given) over what was there; devices, hugepages and the rest are kept."""
    from shim.spec.resources import CPU, BlockIO, Memory

    out: dict[str, object] = dict(old) if isinstance(old, dict) else {}
    mem, cpu = res.memory or Memory(), res.cpu or CPU()
    out["memory"] = _merge(
        out.get("memory"), limit=mem.limit, reservation=mem.reservation, swap=mem.swap
    )
    out["cpu"] = _merge(
        out.get("cpu"),
        shares=cpu.shares,
        quota=cpu.quota,
        period=cpu.period,
        realtimeRuntime=cpu.realtime_runtime,
        realtimePeriod=cpu.realtime_period,
        cpus=cpu.cpus,
        mems=cpu.mems,
    )
    if cpu.burst is not None:
        out["cpu"] = _merge(out["cpu"], burst=cpu.burst)
    if cpu.idle is not None:
        out["cpu"] = _merge(out["cpu"], idle=cpu.idle)
    out["blockIO"] = _merge(out.get("blockIO"), weight=(res.block_io or BlockIO()).weight)
    out["pids"] = {"limit": res.pids.limit if res.pids else 0}
    out["unified"] = dict(res.unified)
    return out


def _merge(section: object, **values: int | str | None) -> dict[str, object]:
    out: dict[str, object] = dict(section) if isinstance(section, dict) else {}
    for key, value in values.items():
        out[key] = value if isinstance(value, str) else value or 0
    return out
