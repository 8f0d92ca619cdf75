"""A container's cgroup statistics in the shape of runc's `events` data (runc 1.1 types).

Keys, their order and which zero values are left out follow runc's `events/types.go`
(`omitempty` fields vanish at zero; `kernel`, `user`, memory `limit` and `failcnt`,
hugetlb `failcnt` and the cpuset scalars are always there). `network_interfaces`
and `intel_rdt` are not cgroup data: the events layer adds them.
"""

from __future__ import annotations

import os

from shim.cgroups import fs
from shim.cgroups.stats_blkio import blkio_v1, io_v2

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

_NS = 1_000_000_000


def stats_v1(paths: Mapping[str, str]) -> dict[str, object]:
    cpu, cpuacct = paths.get("cpu"), paths.get("cpuacct", paths.get("cpu"))
    return {
        "cpu": _cpu_v1(cpuacct, cpu),
        "cpuset": _cpuset(paths.get("cpuset"), "cpuset.cpus", "cpuset.mems"),
        "memory": _memory_v1(paths.get("memory")),
        "pids": _pids(paths.get("pids")),
        "blkio": blkio_v1(paths.get("blkio")),
        "hugetlb": _hugetlb(paths.get("hugetlb"), "limit_in_bytes"),
    }


def stats_v2(directory: str) -> dict[str, object]:
    return {
        "cpu": _cpu_v2(directory),
        "cpuset": _cpuset(directory, "cpuset.cpus.effective", "cpuset.mems.effective"),
        "memory": _memory_v2(directory),
        "pids": _pids(directory, count_procs=True),
        "blkio": io_v2(directory),
        "hugetlb": _hugetlb(directory, "max"),
    }


def _omit_zero(pairs: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in pairs.items() if v}


def _ints(text: str | None) -> list[int]:
    return [fs.parse_int(word) for word in (text or "").split()]


def _cpu_v1(cpuacct: str | None, cpu: str | None) -> dict[str, object]:
    usage: dict[str, object] = {}
    if cpuacct is not None:
        total = fs.read_int(f"{cpuacct}/cpuacct.usage")
        percpu = _ints(fs.read(f"{cpuacct}/cpuacct.usage_percpu"))
        kernel_per, user_per = _percpu_split(cpuacct)
        ticks = fs.read_kv(f"{cpuacct}/cpuacct.stat")
        hz = os.sysconf("SC_CLK_TCK")
        usage = _omit_zero(
            {"total": total, "percpu": percpu, "percpu_kernel": kernel_per, "percpu_user": user_per}
        )
        usage["kernel"] = ticks.get("system", 0) * _NS // hz
        usage["user"] = ticks.get("user", 0) * _NS // hz
    else:
        usage = {"kernel": 0, "user": 0}
    stat = fs.read_kv(f"{cpu}/cpu.stat") if cpu is not None else {}
    throttling = _omit_zero(
        {
            "periods": stat.get("nr_periods", 0),
            "throttledPeriods": stat.get("nr_throttled", 0),
            "throttledTime": stat.get("throttled_time", 0),
        }
    )
    return {"usage": usage, "throttling": throttling}


def _percpu_split(cpuacct: str) -> tuple[list[int], list[int]]:
    # cpuacct.usage_all: a header, then "cpu user system" per cpu
    kernel: list[int] = []
    user: list[int] = []
    for line in (fs.read(f"{cpuacct}/cpuacct.usage_all") or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) == 3:
            user.append(fs.parse_int(fields[1]))
            kernel.append(fs.parse_int(fields[2]))
    return kernel, user


def _cpu_v2(directory: str) -> dict[str, object]:
    stat = fs.read_kv(f"{directory}/cpu.stat")
    usage = _omit_zero({"total": stat.get("usage_usec", 0) * 1000})
    usage["kernel"] = stat.get("system_usec", 0) * 1000
    usage["user"] = stat.get("user_usec", 0) * 1000
    throttling = _omit_zero(
        {
            "periods": stat.get("nr_periods", 0),
            "throttledPeriods": stat.get("nr_throttled", 0),
            "throttledTime": stat.get("throttled_usec", 0) * 1000,
        }
    )
    return {"usage": usage, "throttling": throttling}


def _cpuset(directory: str | None, cpus_file: str, mems_file: str) -> dict[str, object]:
    def flag(name: str) -> int:
        return fs.read_int(f"{directory}/cpuset.{name}") if directory is not None else 0

    out: dict[str, object] = {}
    if directory is not None:
        cpus, mems = (
            _list(fs.read(f"{directory}/{cpus_file}")),
            _list(fs.read(f"{directory}/{mems_file}")),
        )
        out = _omit_zero({"cpus": cpus})
        out["cpu_exclusive"] = flag("cpu_exclusive")
        out.update(_omit_zero({"mems": mems}))
    else:
        out["cpu_exclusive"] = 0
    for name in ("mem_hardwall", "mem_exclusive", "memory_migrate", "memory_spread_page"):
        out[name] = flag(name)
    for name in ("memory_spread_slab", "memory_pressure", "sched_load_balance"):
        out[name] = flag(name)
    out["sched_relax_domain_level"] = flag("sched_relax_domain_level")
    return out


def _list(text: str | None) -> list[int]:
    found: list[int] = []
    for part in (text or "").strip().split(","):
        low, _, high = part.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            found.extend(range(int(low), int(high or low) + 1))
    return found


def _entry(limit: int, usage: int, peak: int, failcnt: int) -> dict[str, object]:
    out: dict[str, object] = {"limit": limit}
    out.update(_omit_zero({"usage": usage, "max": peak}))
    out["failcnt"] = failcnt
    return out


def _memory_v1(directory: str | None) -> dict[str, object]:
    def entry(prefix: str) -> dict[str, object]:
        if directory is None:
            return _entry(0, 0, 0, 0)
        base = f"{directory}/{prefix}"
        return _entry(
            fs.read_int(f"{base}limit_in_bytes"),
            fs.read_int(f"{base}usage_in_bytes"),
            fs.read_int(f"{base}max_usage_in_bytes"),
            fs.read_int(f"{base}failcnt"),
        )

    raw = fs.read_kv(f"{directory}/memory.stat") if directory is not None else {}
    out = _omit_zero({"cache": raw.get("cache", 0)})
    out["usage"] = entry("memory.")
    out["swap"] = entry("memory.memsw.")
    out["kernel"] = entry("memory.kmem.")
    out["kernelTCP"] = entry("memory.kmem.tcp.")
    if raw:
        out["raw"] = raw
    return out


def _memory_v2(directory: str) -> dict[str, object]:
    raw = fs.read_kv(f"{directory}/memory.stat")
    events = fs.read_kv(f"{directory}/memory.events")
    usage = fs.read_int(f"{directory}/memory.current")
    limit = fs.read_int(f"{directory}/memory.max", fs.MAX_U64)
    swap_usage = fs.read_int(f"{directory}/memory.swap.current")
    swap_limit = fs.read_int(f"{directory}/memory.swap.max", fs.MAX_U64)
    if swap_limit != fs.MAX_U64 and limit != fs.MAX_U64:
        swap_limit += limit  # runc reports v1's memory+swap for compatibility
    peak = fs.read_int(f"{directory}/memory.peak")
    out = _omit_zero({"cache": raw.get("file", 0)})
    out["usage"] = _entry(limit, usage, peak, events.get("max", 0))
    out["swap"] = _entry(swap_limit, swap_usage + usage, 0, 0)
    out["kernel"] = _entry(0, 0, 0, 0)
    out["kernelTCP"] = _entry(0, 0, 0, 0)
    if raw:
        out["raw"] = raw
    return out


def _pids(directory: str | None, count_procs: bool = False) -> dict[str, object]:
    """pids.current and pids.max; on v2 without the pids controller, runc counts
    cgroup.procs instead (statPidsFromCgroupProcs)."""
    if directory is None:
        return {}
    current = fs.read(f"{directory}/pids.current")
    if current is None and count_procs:
        return _omit_zero({"current": len((fs.read(f"{directory}/cgroup.procs") or "").split())})
    limit = fs.read_int(f"{directory}/pids.max")
    return _omit_zero(
        {
            "current": fs.parse_int(current.split()[0]) if current and current.split() else 0,
            "limit": 0 if limit == fs.MAX_U64 else limit,
        }
    )


def page_sizes() -> list[str]:
    """The host's huge page sizes in cgroup file naming (`2MB`, `1GB`)."""
    try:
        names = sorted(os.listdir("/sys/kernel/mm/hugepages"))
    except FileNotFoundError:
        return []
    sizes: list[str] = []
    for name in names:  # hugepages-2048kB
        kb = fs.parse_int(name.removeprefix("hugepages-").removesuffix("kB"))
        for unit, scale in (("GB", 1 << 20), ("MB", 1 << 10), ("KB", 1)):
            if kb and kb % scale == 0:
                sizes.append(f"{kb // scale}{unit}")
                break
    return sizes


def _hugetlb(directory: str | None, limit_suffix: str) -> dict[str, object]:
    if directory is None:
        return {}
    out: dict[str, object] = {}
    v2 = limit_suffix == "max"
    for size in page_sizes():
        base = f"{directory}/hugetlb.{size}"
        if not fs.exists(f"{base}.{'current' if v2 else 'usage_in_bytes'}"):
            continue
        if v2:
            usage, peak = fs.read_int(f"{base}.current"), 0
            failcnt = fs.read_kv(f"{base}.events").get("max", 0)
        else:
            usage, peak = (
                fs.read_int(f"{base}.usage_in_bytes"),
                fs.read_int(f"{base}.max_usage_in_bytes"),
            )
            failcnt = fs.read_int(f"{base}.failcnt")
        entry = _omit_zero({"usage": usage, "max": peak})
        entry["failcnt"] = failcnt
        out[size] = entry
    return out
