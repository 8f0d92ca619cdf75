"""A container's cgroup statistics as containerd's Metrics (the Stats RPC).

containerd (and CRI's ContainerStats) accept exactly two Any types:
`io.containerd.cgroups.v1.Metrics` for cgroup v1 (and hybrid hosts, as the runc shim
reports them) and `io.containerd.cgroups.v2.Metrics` for cgroup v2
(containerd/cgroups stats/v1/metrics.proto, v2/stats/metrics.proto). v1 comes from the
runtime's runc-shaped stats (the same data `shim events --stats` prints); v2 is read
from the cgroup's own files, as containerd's cgroups v2 library does.
"""

from __future__ import annotations

import os

from google.protobuf import any_pb2

from shim.cgroups import fs
from shim.shimv2.proto import cgroups_v1_metrics_pb2 as v1
from shim.shimv2.proto import cgroups_v2_metrics_pb2 as v2

V1_TYPE = "io.containerd.cgroups.v1.Metrics"
V2_TYPE = "io.containerd.cgroups.v2.Metrics"

# v1 MemoryStat fields whose memory.stat key differs from the field's name
_V1_MEMORY_KEYS = {
    "pg_pg_in": "pgpgin",
    "pg_pg_out": "pgpgout",
    "pg_fault": "pgfault",
    "pg_maj_fault": "pgmajfault",
    "hierarchical_swap_limit": "hierarchical_memsw_limit",
}


def metrics_any(mode: str, data: dict[str, object], paths: dict[str, str]) -> any_pb2.Any:
    """The Stats reply's Any for a container whose cgroup manager is in `mode`."""
    if mode == "v2":
        message = v2_metrics(paths[""])
        return any_pb2.Any(type_url=V2_TYPE, value=message.SerializeToString())
    return any_pb2.Any(type_url=V1_TYPE, value=v1_metrics(data).SerializeToString())


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _int(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _entry(raw: object) -> v1.MemoryEntry:
    d = _dict(raw)
    return v1.MemoryEntry(
        limit=_int(d.get("limit")),
        usage=_int(d.get("usage")),
        max=_int(d.get("max")),
        failcnt=_int(d.get("failcnt")),
    )


def v1_metrics(data: dict[str, object]) -> v1.Metrics:
    """From runc's `events --stats` data (shim.cgroups.stats)."""
    out = v1.Metrics()
    cpu = _dict(data.get("cpu"))
    usage, throttling = _dict(cpu.get("usage")), _dict(cpu.get("throttling"))
    percpu = usage.get("percpu")
    out.cpu.usage.CopyFrom(
        v1.CPUUsage(
            total=_int(usage.get("total")),
            kernel=_int(usage.get("kernel")),
            user=_int(usage.get("user")),
            per_cpu=[_int(v) for v in percpu] if isinstance(percpu, list) else [],
        )
    )
    out.cpu.throttling.CopyFrom(
        v1.Throttle(
            periods=_int(throttling.get("periods")),
            throttled_periods=_int(throttling.get("throttled_periods")),
            throttled_time=_int(throttling.get("throttled_time")),
        )
    )
    memory = _dict(data.get("memory"))
    raw = _dict(memory.get("raw"))
    stat = v1.MemoryStat(
        usage=_entry(memory.get("usage")),
        swap=_entry(memory.get("swap")),
        kernel=_entry(memory.get("kernel")),
        kernel_tcp=_entry(memory.get("kernelTCP")),
    )
    for field in v1.MemoryStat.DESCRIPTOR.fields:
        if field.message_type is None:
            setattr(stat, field.name, _int(raw.get(_V1_MEMORY_KEYS.get(field.name, field.name))))
    out.memory.CopyFrom(stat)
    pids = _dict(data.get("pids"))
    out.pids.CopyFrom(v1.PidsStat(current=_int(pids.get("current")), limit=_int(pids.get("limit"))))
    blkio = _dict(data.get("blkio"))
    for field in v1.BlkIOStat.DESCRIPTOR.fields:
        entries = blkio.get(field.name)
        for e in entries if isinstance(entries, list) else []:
            entry = _dict(e)
            getattr(out.blkio, field.name).append(
                v1.BlkIOEntry(
                    op=str(entry.get("op", "")),
                    major=_int(entry.get("major")),
                    minor=_int(entry.get("minor")),
                    value=_int(entry.get("value")),
                )
            )
    for pagesize, value in sorted(_dict(data.get("hugetlb")).items()):
        h = _dict(value)
        out.hugetlb.append(
            v1.HugetlbStat(
                usage=_int(h.get("usage")),
                max=_int(h.get("max")),
                failcnt=_int(h.get("failcnt")),
                pagesize=pagesize,
            )
        )
    return out


def _kv(directory: str, name: str) -> dict[str, int]:
    return fs.read_kv(os.path.join(directory, name))


def _one(directory: str, name: str) -> int:
    """A single-number file; "max" (no limit) and a missing file are 0, as containerd."""
    text = fs.read(os.path.join(directory, name))
    if text is None or text.strip() in ("", "max"):
        return 0
    try:
        return max(0, int(text.split()[0]))
    except ValueError:
        return 0


def v2_metrics(directory: str) -> v2.Metrics:
    """Read from the cgroup v2 directory's files, as containerd's cgroups v3 library."""
    out = v2.Metrics()
    out.pids.CopyFrom(
        v2.PidsStat(current=_one(directory, "pids.current"), limit=_one(directory, "pids.max"))
    )
    cpu = _kv(directory, "cpu.stat")
    for field in v2.CPUStat.DESCRIPTOR.fields:
        if field.message_type is None:
            setattr(out.cpu, field.name, max(0, cpu.get(field.name, 0)))
    stat = _kv(directory, "memory.stat")
    memory = v2.MemoryStat(
        usage=_one(directory, "memory.current"),
        usage_limit=_one(directory, "memory.max"),
        swap_usage=_one(directory, "memory.swap.current"),
        swap_limit=_one(directory, "memory.swap.max"),
        max_usage=_one(directory, "memory.peak"),
        swap_max_usage=_one(directory, "memory.swap.peak"),
    )
    for field in v2.MemoryStat.DESCRIPTOR.fields:
        if field.message_type is None and field.name in stat:
            setattr(memory, field.name, max(0, stat[field.name]))
    out.memory.CopyFrom(memory)
    events = _kv(directory, "memory.events")
    out.memory_events.CopyFrom(
        v2.MemoryEvents(
            **{f.name: max(0, events.get(f.name, 0)) for f in v2.MemoryEvents.DESCRIPTOR.fields}
        )
    )
    for line in (fs.read(os.path.join(directory, "io.stat")) or "").splitlines():
        device, *pairs = line.split()
        major, _, minor = device.partition(":")
        values = dict(p.split("=", 1) for p in pairs if "=" in p)
        out.io.usage.append(
            v2.IOEntry(
                major=int(major),
                minor=int(minor or 0),
                **{k: int(values.get(k, "0")) for k in ("rbytes", "wbytes", "rios", "wios")},
            )
        )
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if name.startswith("hugetlb.") and name.endswith(".current"):
            size = name[len("hugetlb.") : -len(".current")]
            out.hugetlb.append(
                v2.HugeTlbStat(
                    current=_one(directory, name),
                    max=_one(directory, f"hugetlb.{size}.max"),
                    pagesize=size,
                )
            )
    return out
