"""cgroup v2 resources: runc 1.1's fs2 driver on one unified directory.

Controllers a resource needs are enabled in the parents' `cgroup.subtree_control`
first (as runc does), from the nearest ancestor that has them down. v1-only values
are converted the way runc converts them: cpu shares to `cpu.weight`, blkio weight
to `io.weight`, memory+swap to `memory.swap.max`. `unified` is written last, so
its keys win over the converted ones.
"""

from __future__ import annotations

import os

from shim.cgroups import fs
from shim.cgroups.checks import WHERE
from shim.errors import CgroupError, InvalidConfig, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cgroups.devices import Rule
    from shim.spec.resources import CPU, BlockIO, Memory, Resources


def shares_to_weight(shares: int) -> int:
    """runc 1.1's ConvertCPUSharesToCgroupV2Value: [2, 262144] onto [1, 10000]; 0 stays 0."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def weight_to_shares(weight: int) -> int:
    """The inverse mapping (crun's and systemd's), for reading a v2 weight back as shares."""
    if weight == 0:
        return 0
    return 2 + ((weight - 1) * 262142) // 9999


def blkio_to_io_weight(weight: int) -> int:
    """runc's ConvertBlkIOToIOWeightValue: [10, 1000] onto [1, 10000]; 0 stays 0."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def swap_to_v2(swap: int, memory: int) -> int:
    """runc's ConvertMemorySwapToCgroupV2Value: v1's memory+swap to v2's swap alone.

    -1 means max, 0 means leave alone. Raises `InvalidConfig` naming the field.
    """
    if memory == -1 and swap == 0:
        return -1  # unlimited memory with swap unset: both unlimited, as on v1
    if swap in (-1, 0):
        return swap
    if memory in (0, -1):
        raise InvalidConfig(f"{WHERE}.memory.swap: unable to set swap limit without memory limit")
    if swap < memory:
        raise InvalidConfig(f"{WHERE}.memory.swap: memory+swap limit should be >= memory limit")
    return swap - memory


def apply_v2(directory: str, res: Resources, rules: list[Rule] | None) -> None:
    """Write `res` into the unified `directory`; device rules (unless None, then
    runc's defaults after them) become an attached BPF device program.

    Raises `Unsupported` for what v2 cannot do (net_cls/net_prio, realtime) or a
    controller the host does not offer, `CgroupError` naming the field on a kernel
    refusal.
    """
    net = res.network
    if net is not None and (net.class_id is not None or net.priorities):
        raise Unsupported(f"{WHERE}.network: net_cls and net_prio exist only on cgroup v1")
    cpu = res.cpu
    if cpu is not None and (cpu.realtime_period or cpu.realtime_runtime):
        raise Unsupported(f"{WHERE}.cpu.realtimeRuntime: realtime cpu limits need cgroup v1")
    swap = 0
    if res.memory is not None:
        swap = swap_to_v2(res.memory.swap or 0, res.memory.limit or 0)
    for controller, field in _needed(res).items():
        enable_controller(directory, controller, field)
    if cpu is not None:
        _set(directory, "cpuset.cpus", cpu.cpus or None, f"{WHERE}.cpu.cpus")
        _set(directory, "cpuset.mems", cpu.mems or None, f"{WHERE}.cpu.mems")
        _cpu(directory, cpu)
    if res.memory is not None:
        _memory(directory, res.memory, swap)
    if res.pids is not None and res.pids.limit != 0:
        limit = res.pids.limit
        _set(directory, "pids.max", str(limit) if limit > 0 else "max", f"{WHERE}.pids.limit")
    if res.block_io is not None:
        _io(directory, res.block_io)
    for i, hp in enumerate(res.hugepage_limits):
        _set(
            directory, f"hugetlb.{hp.page_size}.max", str(hp.limit), f"{WHERE}.hugepageLimits[{i}]"
        )
    if rules is not None:
        from shim.cgroups.devices import with_defaults
        from shim.cgroups.devices_bpf import attach, compile_rules

        attach(directory, compile_rules(with_defaults(rules)))
    for key, value in res.unified.items():
        _unified(directory, key, value)


def enable_controller(directory: str, controller: str, field: str) -> None:
    """Make `controller` available in `directory` through its ancestors' subtree_control."""
    if controller in (fs.read(f"{directory}/cgroup.controllers") or "").split():
        return
    parent = os.path.dirname(directory)
    offered = fs.read(f"{parent}/cgroup.controllers")
    if parent == directory or offered is None:
        raise Unsupported(f"{field}: the {controller} controller is not available in cgroup v2")
    enable_controller(parent, controller, field)
    if controller not in (fs.read(f"{parent}/cgroup.subtree_control") or "").split():
        fs.write(f"{parent}/cgroup.subtree_control", f"+{controller}", field)


def _needed(res: Resources) -> dict[str, str]:
    need: dict[str, str] = {}
    cpu, mem, bio = res.cpu, res.memory, res.block_io
    if cpu is not None:
        if cpu.cpus or cpu.mems:
            need["cpuset"] = f"{WHERE}.cpu"
        if cpu.shares or cpu.quota or cpu.period or cpu.burst is not None or cpu.idle is not None:
            need["cpu"] = f"{WHERE}.cpu"
    if mem is not None and (mem.limit or mem.reservation or mem.swap):
        need["memory"] = f"{WHERE}.memory"
    if res.pids is not None and res.pids.limit != 0:
        need["pids"] = f"{WHERE}.pids"
    if bio is not None and (
        bio.weight
        or bio.weight_device
        or bio.throttle_read_bps_device
        or bio.throttle_write_bps_device
        or bio.throttle_read_iops_device
        or bio.throttle_write_iops_device
    ):
        need["io"] = f"{WHERE}.blockIO"
    if res.hugepage_limits:
        need["hugetlb"] = f"{WHERE}.hugepageLimits"
    for key in res.unified:
        need.setdefault(key.split(".", 1)[0], f"{WHERE}.unified.{key}")
    for core in ("cgroup", "misc"):
        need.pop(core, None)  # core files need no controller; misc is optional
    return need


def _set(directory: str, name: str, value: str | None, field: str) -> None:
    if value is not None:
        fs.write(f"{directory}/{name}", value, field)


def _num(value: int) -> str:
    return "max" if value == -1 else str(value)


def _cpu(directory: str, cpu: CPU) -> None:
    where = f"{WHERE}.cpu"
    if cpu.idle is not None:
        _set(directory, "cpu.idle", str(cpu.idle), f"{where}.idle")
    if cpu.shares:
        _set(directory, "cpu.weight", str(shares_to_weight(cpu.shares)), f"{where}.shares")
    if cpu.burst is not None:
        _set(directory, "cpu.max.burst", str(cpu.burst), f"{where}.burst")
    if cpu.quota or cpu.period:
        if cpu.quota:
            quota = _num(cpu.quota)
        else:  # only the period: keep the quota that is there
            quota = (fs.read(f"{directory}/cpu.max") or "max").split()[0]
        value = f"{quota} {cpu.period}" if cpu.period else quota
        _set(directory, "cpu.max", value, f"{where}.{'quota' if cpu.quota else 'period'}")


def _memory(directory: str, mem: Memory, swap: int) -> None:
    where = f"{WHERE}.memory"
    limit = mem.limit or 0
    if mem.check_before_update and limit > 0:
        usage = fs.read_int(f"{directory}/memory.current")
        if limit <= usage:
            raise CgroupError(
                f"{where}.limit: rejecting memory limit {limit} below current usage {usage}"
            )
    # swap first: a smaller memory.max then never meets a swap limit it does not fit
    if swap:
        if not fs.exists(f"{directory}/memory.swap.max"):
            if swap != -1:
                raise Unsupported(f"{where}.swap: swap accounting is not enabled on this host")
        else:
            _set(directory, "memory.swap.max", _num(swap), f"{where}.swap")
    if limit:
        _set(directory, "memory.max", _num(limit), f"{where}.limit")
    if mem.reservation:
        _set(directory, "memory.low", _num(mem.reservation), f"{where}.reservation")


def _io(directory: str, bio: BlockIO) -> None:
    where = f"{WHERE}.blockIO"
    bfq = fs.exists(f"{directory}/io.bfq.weight")
    if bio.weight:
        if bfq:
            _set(directory, "io.bfq.weight", str(bio.weight), f"{where}.weight")
        else:
            _set(directory, "io.weight", str(blkio_to_io_weight(bio.weight)), f"{where}.weight")
    for i, wd in enumerate(bio.weight_device):
        if not wd.weight:
            continue
        if not bfq:
            raise Unsupported(
                f"{where}.weightDevice[{i}]: per-device weights need the bfq scheduler"
            )
        _set(
            directory,
            "io.bfq.weight",
            f"{wd.major}:{wd.minor} {wd.weight}",
            f"{where}.weightDevice[{i}]",
        )
    for name, devices, key in (
        ("throttleReadBpsDevice", bio.throttle_read_bps_device, "rbps"),
        ("throttleWriteBpsDevice", bio.throttle_write_bps_device, "wbps"),
        ("throttleReadIOPSDevice", bio.throttle_read_iops_device, "riops"),
        ("throttleWriteIOPSDevice", bio.throttle_write_iops_device, "wiops"),
    ):
        for i, td in enumerate(devices):
            line = f"{td.major}:{td.minor} {key}={td.rate}"
            _set(directory, "io.max", line, f"{where}.{name}[{i}]")


def _unified(directory: str, key: str, value: str) -> None:
    path = f"{directory}/{key}"
    try:
        fs.write_raw(path, value)
    except FileNotFoundError:
        raise Unsupported(
            f"{WHERE}.unified.{key}: no such cgroup file (is the"
            f" {key.split('.', 1)[0]} controller available?)"
        ) from None
    except OSError as err:
        raise CgroupError(
            f"{WHERE}.unified.{key}: write {value!r} to {path}: {err.strerror}"
        ) from err
