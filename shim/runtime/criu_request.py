"""The criu_req for a dump or a restore, from the options and what we know of the container.

Pure: fds are numbers in our process (criu opens them through /proc/<our pid>/fd),
paths are strings; nothing is opened or checked here. The fields follow runc's
Checkpoint and Restore (libcontainer/criu_linux.go).
"""

from __future__ import annotations

from shim.criu import rpc_pb2 as rpc
from shim.runtime.criu_namespaces import NS_KEYS, NS_NAMES
from shim.runtime.criu_options import (
    CheckpointOptions,
    CriuOptions,
    RestoreOptions,
    cgroup_mode,
    empty_ns_mask,
    page_server,
)

LOG_LEVEL = 4  # criu's most detailed: the log is what explains a failure
DUMP_LOG = "dump.log"
RESTORE_LOG = "restore.log"
DEFAULT_CONFIG_FILE = "/etc/criu/runc.conf"  # runc's: a drop-in replacement reads the same
CONFIG_ANNOTATION = "org.criu.config"  # set: that file; set but empty: none


def config_file(annotations: dict[str, str]) -> str:
    return annotations.get(CONFIG_ANNOTATION, DEFAULT_CONFIG_FILE)


def _shared(opts: CriuOptions, out: rpc.criu_opts, annotations: dict[str, str]) -> None:
    out.log_level = LOG_LEVEL
    out.manage_cgroups = True  # the old flag; manage_cgroups_mode refines it
    mode = cgroup_mode(opts.manage_cgroups_mode)
    if mode is not None:
        out.manage_cgroups_mode = mode  # type: ignore[assignment]
    out.notify_scripts = True
    out.shell_job = opts.shell_job
    out.tcp_established = opts.tcp_established
    out.ext_unix_sk = opts.ext_unix_sk
    out.file_locks = opts.file_locks
    out.empty_ns = empty_ns_mask(opts.empty_ns)
    out.orphan_pts_master = True
    out.auto_dedup = opts.auto_dedup
    out.lazy_pages = opts.lazy_pages
    conf = config_file(annotations)
    if conf:
        out.config_file = conf


def _ext_mounts(out: rpc.criu_opts, pairs: list[tuple[str, str]]) -> None:
    for key, val in pairs:
        out.ext_mnt.add(key=key, val=val)


def dump_request(
    opts: CheckpointOptions,
    *,
    pid: int,
    rootfs: str,
    image_fd: int,
    work_fd: int | None,
    freeze_cgroup: str,
    external_ns: dict[str, int],
    ext_mounts: list[tuple[str, str]],
    annotations: dict[str, str],
) -> rpc.criu_req:
    """DUMP (or PRE_DUMP). external_ns: namespace type -> inode, for the namespaces the
    container joined by path (criu leaves them out and expects them back at restore)."""
    req = rpc.criu_req(type=rpc.PRE_DUMP if opts.pre_dump else rpc.DUMP)
    out = req.opts
    out.images_dir_fd = image_fd
    if work_fd is not None:
        out.work_dir_fd = work_fd
    out.log_file = DUMP_LOG
    out.root = rootfs
    out.pid = pid
    out.leave_running = opts.leave_running
    _shared(opts, out, annotations)
    for kind, inode in sorted(external_ns.items()):
        out.external.append(f"{NS_NAMES[kind]}[{inode}]:{NS_KEYS[kind]}")
    if freeze_cgroup:
        out.freeze_cgroup = freeze_cgroup
    server = page_server(opts.page_server)
    if server is not None:
        out.ps.address, out.ps.port = server
    if opts.parent_path:
        out.parent_img = opts.parent_path
        out.track_mem = True
    if not opts.pre_dump:  # a pre-dump writes memory only
        _ext_mounts(out, ext_mounts)
    return req


def restore_request(
    opts: RestoreOptions,
    *,
    image_fd: int,
    work_fd: int | None,
    root: str,
    ext_mounts: list[tuple[str, str]],
    inherit: list[tuple[str, int]],
    join_ns: list[tuple[str, str]],
    annotations: dict[str, str],
) -> rpc.criu_req:
    """RESTORE. inherit: (key, fd in criu) pairs, e.g. ("pipe:[1234]", 1); join_ns:
    (criu's namespace name, path) for namespaces the container joins by path."""
    req = rpc.criu_req(type=rpc.RESTORE)
    out = req.opts
    out.images_dir_fd = image_fd
    if work_fd is not None:
        out.work_dir_fd = work_fd
    out.log_file = RESTORE_LOG
    out.evasive_devices = True
    out.rst_sibling = True  # the restored init becomes our child, as criu's sibling
    out.root = root
    _shared(opts, out, annotations)
    _ext_mounts(out, ext_mounts)
    for key, fd in inherit:
        out.inherit_fd.add(key=key, fd=fd)
    for ns, path in join_ns:
        out.join_ns.add(ns=ns, ns_file=path)
    return req
