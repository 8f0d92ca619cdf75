"""`linux.resources` checked before anything is written (sans-IO).

Each refusal is an `InvalidConfig` whose message starts with the field, e.g.
`linux.resources.cpu.cpus: invalid cpu list "9-1": range end before start`.
What only the host can judge (a controller that is not there, a limit the kernel
refuses) is left to the drivers, which name the field the same way.
"""

from __future__ import annotations

from shim.cgroups.devices import rule_of
from shim.errors import InvalidConfig, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.spec.resources import CPU, BlockIO, Memory, Resources

WHERE = "linux.resources"
_PAGE_UNITS = ("KB", "MB", "GB", "TB", "PB")
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")
SHARES_MIN, SHARES_MAX = 2, 262144  # the kernel's clamp on cpu.shares
PERIOD_MIN, PERIOD_MAX = 1000, 1_000_000  # cpu.cfs_period_us in microseconds
QUOTA_MIN = 1000
WEIGHT_MIN, WEIGHT_MAX = 10, 1000  # blkio weights


def check_resources(res: Resources, where: str = WHERE) -> None:
    """Raise `InvalidConfig` (naming the field) for a value no cgroup would take."""
    for i, rule in enumerate(res.devices):
        rule_of(i, rule.allow, rule.type, rule.major, rule.minor, rule.access)
    if res.memory is not None:
        _check_memory(res.memory, f"{where}.memory")
    if res.cpu is not None:
        _check_cpu(res.cpu, f"{where}.cpu")
    if res.block_io is not None:
        _check_block_io(res.block_io, f"{where}.blockIO")
    for i, hp in enumerate(res.hugepage_limits):
        number, unit = hp.page_size[:-2], hp.page_size[-2:]
        if unit not in _PAGE_UNITS or not number.isdigit() or number.startswith("0"):
            raise InvalidConfig(
                f"{where}.hugepageLimits[{i}].pageSize: invalid hugepage size {hp.page_size!r}"
            )
    if res.network is not None:
        for i, prio in enumerate(res.network.priorities):
            if not prio.name or any(c.isspace() or c == "/" for c in prio.name):
                raise InvalidConfig(
                    f"{where}.network.priorities[{i}].name: invalid interface name {prio.name!r}"
                )
    if res.rdma:
        raise Unsupported(f"{where}.rdma: the rdma controller is not supported")
    for key, value in res.unified.items():
        controller, dot, name = key.partition(".")
        if not (controller and dot and name) or not set(key) <= _KEY_CHARS:
            raise InvalidConfig(
                f"{where}.unified: {key!r} is not a cgroup v2 file name (controller.file)"
            )
        if key.startswith("cgroup."):
            raise InvalidConfig(f"{where}.unified: {key!r} is a core file, not a resource")
        if "\n" in value:
            raise InvalidConfig(f"{where}.unified.{key}: the value may not contain a newline")


def parse_cpu_list(text: str, field: str) -> list[int]:
    """A kernel cpu/node list (`0-3,5`) as numbers; `InvalidConfig` naming `field` if bad."""
    found: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise InvalidConfig(f"{field}: invalid list {text!r}: {part!r} is not N or N-M")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise InvalidConfig(
                f"{field}: invalid list {text!r}: range {part} ends before it starts"
            )
        if last > 65535:
            raise InvalidConfig(f"{field}: invalid list {text!r}: {last} is out of range")
        found.extend(range(first, last + 1))
    return found


def _limit(value: int | None, field: str) -> None:
    if value is not None and value < -1:
        raise InvalidConfig(f"{field}: invalid value {value}: use -1 for unlimited, or bytes >= 0")


def _check_memory(mem: Memory, where: str) -> None:
    _limit(mem.limit, f"{where}.limit")
    _limit(mem.reservation, f"{where}.reservation")
    _limit(mem.swap, f"{where}.swap")
    if mem.swappiness is not None and mem.swappiness > 100 and mem.swappiness != (1 << 64) - 1:
        raise InvalidConfig(
            f"{where}.swappiness: invalid value:{mem.swappiness}."
            " valid memory swappiness range is 0-100"
        )
    limit, swap = mem.limit or 0, mem.swap or 0
    if limit > 0 and swap > 0 and swap < limit:
        raise InvalidConfig(
            f"{where}.swap: memory+swap limit ({swap}) should be >= memory limit ({limit})"
        )


def _check_cpu(cpu: CPU, where: str) -> None:
    if cpu.shares and not SHARES_MIN <= cpu.shares <= SHARES_MAX:
        raise InvalidConfig(
            f"{where}.shares: invalid value {cpu.shares}: cpu shares range from"
            f" {SHARES_MIN} to {SHARES_MAX}"
        )
    if cpu.quota is not None and (cpu.quota < -1 or 0 < cpu.quota < QUOTA_MIN):
        raise InvalidConfig(
            f"{where}.quota: invalid value {cpu.quota}: -1 (unlimited) or at least {QUOTA_MIN}"
        )
    if cpu.period and not PERIOD_MIN <= cpu.period <= PERIOD_MAX:
        raise InvalidConfig(
            f"{where}.period: invalid value {cpu.period}: from {PERIOD_MIN} to {PERIOD_MAX}"
        )
    if cpu.realtime_runtime is not None and cpu.realtime_runtime < -1:
        raise InvalidConfig(f"{where}.realtimeRuntime: invalid value {cpu.realtime_runtime}")
    if cpu.idle is not None and cpu.idle not in (0, 1):
        raise InvalidConfig(f"{where}.idle: invalid value {cpu.idle}: 0 or 1")
    if cpu.cpus:
        parse_cpu_list(cpu.cpus, f"{where}.cpus")
    if cpu.mems:
        parse_cpu_list(cpu.mems, f"{where}.mems")


def _weight(value: int | None, field: str) -> None:
    if value and not WEIGHT_MIN <= value <= WEIGHT_MAX:
        raise InvalidConfig(
            f"{field}: invalid value {value}: weights range from {WEIGHT_MIN} to {WEIGHT_MAX}"
        )


def _check_block_io(bio: BlockIO, where: str) -> None:
    _weight(bio.weight, f"{where}.weight")
    _weight(bio.leaf_weight, f"{where}.leafWeight")
    for i, wd in enumerate(bio.weight_device):
        _device(wd.major, wd.minor, f"{where}.weightDevice[{i}]")
        _weight(wd.weight, f"{where}.weightDevice[{i}].weight")
        _weight(wd.leaf_weight, f"{where}.weightDevice[{i}].leafWeight")
    for name, devices in (
        ("throttleReadBpsDevice", bio.throttle_read_bps_device),
        ("throttleWriteBpsDevice", bio.throttle_write_bps_device),
        ("throttleReadIOPSDevice", bio.throttle_read_iops_device),
        ("throttleWriteIOPSDevice", bio.throttle_write_iops_device),
    ):
        for i, td in enumerate(devices):
            _device(td.major, td.minor, f"{where}.{name}[{i}]")


def _device(major: int, minor: int, field: str) -> None:
    if major < 0 or minor < 0:
        raise InvalidConfig(f"{field}: invalid device {major}:{minor}")
