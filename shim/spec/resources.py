"""`linux.resources`: the cgroup limits of the OCI runtime spec 1.0-1.2.

A Go pointer field is `X | None = None` here: None means "leave the cgroup alone",
which is not the same as 0.
"""

from __future__ import annotations

from shim.records import Record, field
from shim.spec._ints import I64, U16, U32, U64


class _Struct(Record, rename="camel", omit_defaults=True):
    pass


class DeviceRule(_Struct):
    """One device cgroup rule; a missing type, major or minor matches all."""

    allow: bool
    type: str | None = None  # "a", "b" or "c"
    major: I64 | None = None
    minor: I64 | None = None
    access: str | None = None  # a subset of "rwm"


class Memory(_Struct):
    limit: I64 | None = None
    reservation: I64 | None = None
    swap: I64 | None = None  # memory+swap, as in cgroup v1
    kernel: I64 | None = None
    kernel_tcp: I64 | None = field(default=None, name="kernelTCP")
    swappiness: U64 | None = None
    disable_oom_killer: bool | None = field(default=None, name="disableOOMKiller")
    use_hierarchy: bool | None = None
    check_before_update: bool | None = None


class CPU(_Struct):
    shares: U64 | None = None
    quota: I64 | None = None
    burst: U64 | None = None
    period: U64 | None = None
    realtime_runtime: I64 | None = None
    realtime_period: U64 | None = None
    cpus: str = ""
    mems: str = ""
    idle: I64 | None = None


class Pids(_Struct):
    limit: I64  # -1 (or 0 in runc 1.1) means "max"


class WeightDevice(_Struct):
    major: I64
    minor: I64
    weight: U16 | None = None
    leaf_weight: U16 | None = None


class ThrottleDevice(_Struct):
    major: I64
    minor: I64
    rate: U64


class BlockIO(_Struct):
    weight: U16 | None = None
    leaf_weight: U16 | None = None
    weight_device: list[WeightDevice] = field(default_factory=list)
    throttle_read_bps_device: list[ThrottleDevice] = field(default_factory=list)
    throttle_write_bps_device: list[ThrottleDevice] = field(default_factory=list)
    throttle_read_iops_device: list[ThrottleDevice] = field(
        default_factory=list, name="throttleReadIOPSDevice"
    )
    throttle_write_iops_device: list[ThrottleDevice] = field(
        default_factory=list, name="throttleWriteIOPSDevice"
    )


class HugepageLimit(_Struct):
    page_size: str
    limit: U64


class InterfacePriority(_Struct):
    name: str
    priority: U32


class Network(_Struct):
    class_id: U32 | None = field(default=None, name="classID")
    priorities: list[InterfacePriority] = field(default_factory=list)


class Rdma(_Struct):
    hca_handles: U32 | None = None
    hca_objects: U32 | None = None


class Resources(_Struct):
    devices: list[DeviceRule] = field(default_factory=list)
    memory: Memory | None = None
    cpu: CPU | None = None
    pids: Pids | None = None
    block_io: BlockIO | None = field(default=None, name="blockIO")
    hugepage_limits: list[HugepageLimit] = field(default_factory=list)
    network: Network | None = None
    rdma: dict[str, Rdma] = field(default_factory=dict)
    unified: dict[str, str] = field(default_factory=dict)  # cgroup v2 file -> value
