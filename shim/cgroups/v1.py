"""cgroup v1 resources: runc 1.1's fs driver, file by file, in its subsystem order.

`apply_v1(paths, res)` first checks that every controller the resources need is
there (refusing with the field's name), then writes. A value of None (or 0 where
runc treats 0 as "unset") leaves the file alone.
"""

from __future__ import annotations

import errno

from shim.cgroups import fs
from shim.cgroups.checks import WHERE
from shim.cgroups.devices import Rule, apply_devices
from shim.errors import CgroupError, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from shim.spec.resources import CPU, BlockIO, Memory, Resources


def needed_controllers(res: Resources) -> dict[str, str]:
    """controller -> the first field that needs it."""
    need: dict[str, str] = {}
    mem, cpu, bio, net = res.memory, res.cpu, res.block_io, res.network
    if mem is not None and _memory_set(mem):
        need["memory"] = f"{WHERE}.memory"
    if cpu is not None:
        if cpu.cpus or cpu.mems:
            need["cpuset"] = f"{WHERE}.cpu.{'cpus' if cpu.cpus else 'mems'}"
        if _cpu_set(cpu):
            need["cpu"] = f"{WHERE}.cpu"
    if res.pids is not None:
        need["pids"] = f"{WHERE}.pids"
    if bio is not None and _blkio_set(bio):
        need["blkio"] = f"{WHERE}.blockIO"
    if res.hugepage_limits:
        need["hugetlb"] = f"{WHERE}.hugepageLimits"
    if net is not None and net.class_id is not None:
        need["net_cls"] = f"{WHERE}.network.classID"
    if net is not None and net.priorities:
        need["net_prio"] = f"{WHERE}.network.priorities"
    return need


def apply_v1(paths: Mapping[str, str], res: Resources, rules: list[Rule] | None) -> None:
    """Write `res` (and the device rules, unless None) into the v1 hierarchies.

    Raises `Unsupported` when a needed controller is not mounted or `unified` is
    set (runc: no unified on v1), `CgroupError` naming the field on a kernel refusal.
    """
    if res.unified:
        raise Unsupported(
            f"{WHERE}.unified: invalid configuration: cannot use unified on cgroup v1"
        )
    for controller, field in needed_controllers(res).items():
        if controller not in paths:
            raise Unsupported(f"{field}: the {controller} cgroup controller is not mounted")
    cpu = res.cpu
    if cpu is not None and "cpuset" in paths:
        _set(paths["cpuset"], "cpuset.cpus", cpu.cpus or None, f"{WHERE}.cpu.cpus")
        _set(paths["cpuset"], "cpuset.mems", cpu.mems or None, f"{WHERE}.cpu.mems")
    if rules is not None:
        apply_devices(dict(paths), rules)
    if res.memory is not None and "memory" in paths:
        _memory(paths["memory"], res.memory)
    if cpu is not None and "cpu" in paths:
        _cpu(paths["cpu"], cpu)
    if res.pids is not None:
        limit = res.pids.limit
        if limit != 0:
            _set(
                paths["pids"], "pids.max", str(limit) if limit > 0 else "max", f"{WHERE}.pids.limit"
            )
    if res.block_io is not None and "blkio" in paths:
        _blkio(paths["blkio"], res.block_io)
    for i, hp in enumerate(res.hugepage_limits):
        name = f"hugetlb.{hp.page_size}.limit_in_bytes"
        _set(paths["hugetlb"], name, str(hp.limit), f"{WHERE}.hugepageLimits[{i}]")
    net = res.network
    if net is not None:
        if net.class_id is not None:
            _set(paths["net_cls"], "net_cls.classid", str(net.class_id), f"{WHERE}.network.classID")
        for i, prio in enumerate(net.priorities):
            field = f"{WHERE}.network.priorities[{i}]"
            _set(paths["net_prio"], "net_prio.ifpriomap", f"{prio.name} {prio.priority}", field)


def _set(directory: str, name: str, value: str | None, field: str) -> None:
    if value is not None:
        fs.write(f"{directory}/{name}", value, field)


def _memory_set(mem: Memory) -> bool:
    return bool(
        mem.limit
        or mem.reservation
        or mem.swap
        or mem.swappiness is not None
        or mem.disable_oom_killer
        or bool(mem.kernel_tcp)
    )


def _memory(directory: str, mem: Memory) -> None:
    where = f"{WHERE}.memory"
    limit, swap = mem.limit or 0, mem.swap or 0
    if limit == -1 and swap == 0 and fs.exists(f"{directory}/memory.memsw.limit_in_bytes"):
        swap = -1  # runc: unlimited memory with swap unset means unlimited swap too
    if mem.check_before_update and limit > 0:
        usage = fs.read_int(f"{directory}/memory.usage_in_bytes")
        if limit <= usage:
            raise CgroupError(
                f"{where}.limit: rejecting memory limit {limit} below current usage {usage}"
            )
    # Write order matters: the kernel refuses memory > memory+swap at every step.
    current = fs.read_int(f"{directory}/memory.limit_in_bytes")
    if limit and swap and (swap == -1 or current < swap):
        _swap(directory, swap)
        _limit(directory, limit)
    else:
        _limit(directory, limit)
        _swap(directory, swap)
    if mem.reservation:
        _set(directory, "memory.soft_limit_in_bytes", str(mem.reservation), f"{where}.reservation")
    if mem.disable_oom_killer:
        _set(directory, "memory.oom_control", "1", f"{where}.disableOOMKiller")
    if mem.kernel_tcp and fs.exists(f"{directory}/memory.kmem.tcp.limit_in_bytes"):
        # runc 1.1 drops it; crun writes it, and this kernel still honours it on v1.
        _set(directory, "memory.kmem.tcp.limit_in_bytes", str(mem.kernel_tcp), f"{where}.kernelTCP")
    swappiness = mem.swappiness
    if swappiness is not None and swappiness <= 100:  # runc: -1 (2**64-1) leaves it alone
        _set(directory, "memory.swappiness", str(swappiness), f"{where}.swappiness")


def _limit(directory: str, limit: int) -> None:
    if not limit:
        return
    try:
        fs.write_raw(f"{directory}/memory.limit_in_bytes", str(limit))
    except OSError as err:
        if err.errno == errno.EBUSY:
            usage = fs.read_int(f"{directory}/memory.usage_in_bytes")
            peak = fs.read_int(f"{directory}/memory.max_usage_in_bytes")
            raise CgroupError(
                f"{WHERE}.memory.limit: unable to set memory limit to {limit}"
                f" (current usage: {usage}, peak usage: {peak})"
            ) from err
        raise CgroupError(
            f"{WHERE}.memory.limit: write {limit} to {directory}/memory.limit_in_bytes:"
            f" {err.strerror}"
        ) from err


def _swap(directory: str, swap: int) -> None:
    if not swap:
        return
    name = "memory.memsw.limit_in_bytes"
    if not fs.exists(f"{directory}/{name}"):
        if swap == -1:
            return
        raise Unsupported(f"{WHERE}.memory.swap: swap accounting is not enabled on this host")
    _set(directory, name, str(swap), f"{WHERE}.memory.swap")


def _cpu_set(cpu: CPU) -> bool:
    return bool(
        cpu.shares
        or cpu.quota
        or cpu.period
        or cpu.burst is not None
        or cpu.realtime_runtime
        or cpu.realtime_period
        or cpu.idle is not None
    )


def _cpu(directory: str, cpu: CPU) -> None:
    where = f"{WHERE}.cpu"
    # Realtime first, period before runtime: runc does this before the process joins.
    if cpu.realtime_period:
        _set(directory, "cpu.rt_period_us", str(cpu.realtime_period), f"{where}.realtimePeriod")
    if cpu.realtime_runtime:
        _set(directory, "cpu.rt_runtime_us", str(cpu.realtime_runtime), f"{where}.realtimeRuntime")
    if cpu.shares:
        _set(directory, "cpu.shares", str(cpu.shares), f"{where}.shares")
        got = fs.read_int(f"{directory}/cpu.shares")
        if got != cpu.shares:  # the kernel clamps instead of refusing
            bound = "maximum" if cpu.shares > got else "minimum"
            raise CgroupError(f"{where}.shares: the {bound} allowed cpu-shares is {got}")
    period_pending = False
    if cpu.period:
        try:
            fs.write_raw(f"{directory}/cpu.cfs_period_us", str(cpu.period))
        except OSError as err:
            # A smaller period can break the parent's quota until the quota is set too.
            if err.errno != errno.EINVAL or not cpu.quota:
                raise CgroupError(
                    f"{where}.period: write {cpu.period} to {directory}/cpu.cfs_period_us:"
                    f" {err.strerror}"
                ) from err
            period_pending = True
    if cpu.quota:
        _set(directory, "cpu.cfs_quota_us", str(cpu.quota), f"{where}.quota")
        if period_pending:
            _set(directory, "cpu.cfs_period_us", str(cpu.period), f"{where}.period")
    if cpu.burst is not None:
        _set(directory, "cpu.cfs_burst_us", str(cpu.burst), f"{where}.burst")
    if cpu.idle is not None:
        _set(directory, "cpu.idle", str(cpu.idle), f"{where}.idle")


def _blkio_set(bio: BlockIO) -> bool:
    return bool(
        bio.weight
        or bio.leaf_weight
        or bio.weight_device
        or bio.throttle_read_bps_device
        or bio.throttle_write_bps_device
        or bio.throttle_read_iops_device
        or bio.throttle_write_iops_device
    )


def _blkio(directory: str, bio: BlockIO) -> None:
    where = f"{WHERE}.blockIO"
    bfq = fs.exists(f"{directory}/blkio.bfq.weight")
    weight_file = "blkio.bfq.weight" if bfq else "blkio.weight"
    if bio.weight:
        if not bfq and not fs.exists(f"{directory}/blkio.weight"):
            raise Unsupported(f"{where}.weight: no blkio weight file (no bfq or cfq scheduler)")
        _set(directory, weight_file, str(bio.weight), f"{where}.weight")
    if bio.leaf_weight:
        _set(directory, "blkio.leaf_weight", str(bio.leaf_weight), f"{where}.leafWeight")
    for i, wd in enumerate(bio.weight_device):
        field = f"{where}.weightDevice[{i}]"
        if wd.weight:
            _set(directory, f"{weight_file}_device", f"{wd.major}:{wd.minor} {wd.weight}", field)
        if wd.leaf_weight:
            line = f"{wd.major}:{wd.minor} {wd.leaf_weight}"
            _set(directory, "blkio.leaf_weight_device", line, field)
    for name, devices, file in (
        ("throttleReadBpsDevice", bio.throttle_read_bps_device, "read_bps_device"),
        ("throttleWriteBpsDevice", bio.throttle_write_bps_device, "write_bps_device"),
        ("throttleReadIOPSDevice", bio.throttle_read_iops_device, "read_iops_device"),
        ("throttleWriteIOPSDevice", bio.throttle_write_iops_device, "write_iops_device"),
    ):
        for i, td in enumerate(devices):
            line = f"{td.major}:{td.minor} {td.rate}"
            _set(directory, f"blkio.throttle.{file}", line, f"{where}.{name}[{i}]")
