"""The OCI runtime spec 1.0-1.2 (Linux) as Records (`shim.records`): what config.json holds.

Names follow the spec's Go bindings; `rename="camel"` gives the JSON name, and
`field(name=...)` spells the few that are not plain camel case
(`containerID`, `classID`, `execCPUAffinity`...). Unknown fields are ignored, as
OCI requires. A Go pointer is `X | None = None`; a Go slice or map defaults empty.
"""

from __future__ import annotations

from shim.records import Record, field
from shim.spec._ints import I32, I64, U32, U64
from shim.spec.resources import Resources


class _Struct(Record, rename="camel", omit_defaults=True):
    pass


class ConsoleSize(_Struct):
    height: U32
    width: U32


class User(_Struct):
    uid: U32 = 0
    gid: U32 = 0
    umask: U32 | None = None
    additional_gids: list[U32] = field(default_factory=list)
    username: str = ""


class Capabilities(_Struct):
    bounding: list[str] = field(default_factory=list)
    effective: list[str] = field(default_factory=list)
    inheritable: list[str] = field(default_factory=list)
    permitted: list[str] = field(default_factory=list)
    ambient: list[str] = field(default_factory=list)


class Rlimit(_Struct):
    type: str  # "RLIMIT_NOFILE"...
    hard: U64
    soft: U64


class Scheduler(_Struct):
    policy: str
    nice: I32 = 0
    priority: I32 = 0
    flags: list[str] = field(default_factory=list)
    runtime: U64 = 0
    deadline: U64 = 0
    period: U64 = 0


class IOPriority(_Struct):
    class_: str = field(name="class")
    priority: int = 0


class ExecCPUAffinity(_Struct):
    initial: str = ""
    final: str = ""


class Process(_Struct):
    """process: what init (or `exec -p process.json`) runs."""

    terminal: bool = False
    console_size: ConsoleSize | None = None
    user: User = field(default_factory=User)
    args: list[str] = field(default_factory=list)
    command_line: str = ""  # Windows only; kept so a round trip loses nothing
    env: list[str] = field(default_factory=list)
    cwd: str = ""
    capabilities: Capabilities | None = None
    rlimits: list[Rlimit] = field(default_factory=list)
    no_new_privileges: bool = False
    apparmor_profile: str = ""
    oom_score_adj: int | None = None
    scheduler: Scheduler | None = None
    selinux_label: str = ""
    io_priority: IOPriority | None = None
    exec_cpu_affinity: ExecCPUAffinity | None = field(default=None, name="execCPUAffinity")


class Root(_Struct):
    path: str = ""  # relative paths are relative to the bundle
    readonly: bool = False


class IDMapping(_Struct):
    container_id: U32 = field(name="containerID")
    host_id: U32 = field(name="hostID")
    size: U32


class Mount(_Struct):
    destination: str
    type: str = ""
    source: str = ""
    options: list[str] = field(default_factory=list)
    uid_mappings: list[IDMapping] = field(default_factory=list)
    gid_mappings: list[IDMapping] = field(default_factory=list)


class Hook(_Struct):
    path: str
    args: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    timeout: int | None = None  # seconds


class Hooks(_Struct):
    prestart: list[Hook] = field(default_factory=list)  # deprecated, still run
    create_runtime: list[Hook] = field(default_factory=list)
    create_container: list[Hook] = field(default_factory=list)
    start_container: list[Hook] = field(default_factory=list)
    poststart: list[Hook] = field(default_factory=list)
    poststop: list[Hook] = field(default_factory=list)


class Namespace(_Struct):
    type: str  # "pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"
    path: str = ""  # join this namespace instead of making one


class TimeOffset(_Struct):
    secs: I64 = 0
    nanosecs: U32 = 0


class Device(_Struct):
    type: str  # "c", "b", "u" or "p"
    path: str
    major: I64 | None = None
    minor: I64 | None = None
    file_mode: U32 | None = None
    uid: U32 | None = None
    gid: U32 | None = None


class SeccompArg(_Struct):
    index: U32
    value: U64
    op: str
    value_two: U64 = 0


class Syscall(_Struct):
    names: list[str]
    action: str
    errno_ret: U32 | None = None
    args: list[SeccompArg] = field(default_factory=list)


class Seccomp(_Struct):
    default_action: str
    default_errno_ret: U32 | None = None
    architectures: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    listener_path: str = ""
    listener_metadata: str = ""
    syscalls: list[Syscall] = field(default_factory=list)


class IntelRdt(_Struct):
    clos_id: str = field(default="", name="closID")
    l3_cache_schema: str = ""
    mem_bw_schema: str = ""
    enable_cmt: bool = field(default=False, name="enableCMT")
    enable_mbm: bool = field(default=False, name="enableMBM")


class Personality(_Struct):
    domain: str  # "LINUX" or "LINUX32"
    flags: list[str] = field(default_factory=list)


class Linux(_Struct):
    uid_mappings: list[IDMapping] = field(default_factory=list)
    gid_mappings: list[IDMapping] = field(default_factory=list)
    sysctl: dict[str, str] = field(default_factory=dict)
    resources: Resources | None = None
    cgroups_path: str = ""
    namespaces: list[Namespace] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    seccomp: Seccomp | None = None
    rootfs_propagation: str = ""
    masked_paths: list[str] = field(default_factory=list)
    readonly_paths: list[str] = field(default_factory=list)
    mount_label: str = ""
    intel_rdt: IntelRdt | None = None
    personality: Personality | None = None
    time_offsets: dict[str, TimeOffset] = field(default_factory=dict)


class Spec(_Struct):
    """The whole config.json."""

    oci_version: str = ""  # REQUIRED by OCI, yet runc accepts a config without it
    process: Process | None = None
    root: Root | None = None
    hostname: str = ""
    domainname: str = ""
    mounts: list[Mount] = field(default_factory=list)
    hooks: Hooks | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    linux: Linux | None = None
