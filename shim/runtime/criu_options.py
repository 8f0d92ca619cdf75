"""The options of `checkpoint` and `restore` (runc's flags), typed, for the CLI and the shim.

The checks that need no container happen here, with runc's texts, before anything is
touched: the cgroup mode, the namespaces of --empty-ns, the page server address.
"""

from __future__ import annotations

import msgspec

from shim.errors import InvalidConfig, Unsupported
from shim.spec.model import Spec  # at run time: msgspec reads the annotations

CLONE_NEWNET = 0x40000000
CG_MODES = {"soft": 3, "full": 4, "strict": 5}  # rpc.proto's criu_cg_mode (runc 1.1's three)
EMPTY_NS = {"network": CLONE_NEWNET}  # runc maps only this one
# Lazy migration needs a dump that stays a page server and a `criu lazy-pages` daemon on
# the restore side. With criu 4.2.1 on this kernel it fails for runc 1.1.5 too (the dump
# side's page pipe: "splice: Bad file descriptor", then the restored tree is killed),
# so it is refused rather than offered untested.
LAZY_PAGES = (
    "--lazy-pages: lazy migration is not supported by shim; checkpoint in full, or send "
    "the pages to another host with --page-server ADDRESS:PORT"
)


class CriuOptions(msgspec.Struct, kw_only=True):
    """What checkpoint and restore share."""

    image_path: str  # absolute
    work_path: str = ""  # criu's work dir and logs; "" = the image dir
    tcp_established: bool = False
    ext_unix_sk: bool = False
    shell_job: bool = False
    file_locks: bool = False
    manage_cgroups_mode: str = ""  # soft (criu's default), full, strict
    empty_ns: list[str] = msgspec.field(default_factory=list)  # "network"
    auto_dedup: bool = False
    lazy_pages: bool = False  # refused (LAZY_PAGES says why)
    criu: str = "criu"  # the binary (runc's global --criu)
    timeout: float | None = None  # seconds for the whole criu session; None: no limit


class CheckpointOptions(CriuOptions, kw_only=True):
    parent_path: str = ""  # relative to image_path: the pre-dump to build on
    leave_running: bool = False
    pre_dump: bool = False
    page_server: str = ""  # ADDRESS:PORT of a `criu page-server`: the pages go there
    status_fd: int = -1  # runc's lazy-pages readiness fd: meaningless without lazy pages


class RestoreOptions(CriuOptions, kw_only=True):
    pid_file: str = ""  # absolute
    console_fd: int | None = None  # a connected console socket: gets the pty master
    stdio: tuple[int, int, int] | None = None  # the restored process's pipes; None: ours
    no_pivot: bool = False  # accepted for runc's sake: criu builds the mount tree itself
    lsm_profile: str = ""
    lsm_mount_context: str = ""
    loaded: tuple[Spec, str] | None = None  # (spec, rootfs) when the caller read the bundle


class CheckpointResult(msgspec.Struct, kw_only=True):
    image_path: str
    log_file: str  # criu's dump.log
    criu_version: str
    status: str  # the container's status afterwards ("stopped": it was deleted)


def cgroup_mode(text: str) -> int | None:
    """criu_cg_mode for --manage-cgroups-mode; None leaves criu's default (soft)."""
    if not text:
        return None
    mode = CG_MODES.get(text)
    if mode is None:
        raise InvalidConfig("Invalid manage cgroups mode")
    return mode


def empty_ns_mask(names: list[str]) -> int:
    """runc always asks for an empty network namespace (it does not manage network
    devices); --empty-ns may only name that one again."""
    mask = CLONE_NEWNET
    for name in names:
        flag = EMPTY_NS.get(name)
        if flag is None:
            raise InvalidConfig(f'namespace "{name}" is not supported')
        mask |= flag
    return mask


def page_server(text: str) -> tuple[str, int] | None:
    """--page-server ADDRESS:PORT (Go's net.SplitHostPort rules, [v6]:port too)."""
    if not text:
        return None
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        host = ""  # an unbracketed v6 address: Go says "too many colons"
    if not sep or not host or not port:
        raise InvalidConfig("Use --page-server ADDRESS:PORT to specify page server")
    if not port.isdigit():
        raise InvalidConfig("Invalid port number")
    return host, int(port)


def check_options(opts: CriuOptions) -> None:
    """Everything about the options alone, before a container or criu is looked at."""
    cgroup_mode(opts.manage_cgroups_mode)
    empty_ns_mask(opts.empty_ns)
    if isinstance(opts, CheckpointOptions):
        page_server(opts.page_server)
    if not opts.image_path:
        raise InvalidConfig("invalid directory to save checkpoint")
    if opts.lazy_pages:
        raise Unsupported(LAZY_PAGES)
