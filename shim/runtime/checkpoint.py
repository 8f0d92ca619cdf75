"""`checkpoint`: a running (or paused) container's process tree into criu images.

    running/paused --DUMP--> images; then stopped and deleted (runc's default),
                             or left as it was (--leave-running, --pre-dump)

criu freezes the tree through the container's freezer cgroup, dumps it with the
mount namespace (external mounts described as runc does: criu_mounts.py) and, unless
asked to leave it running, kills it; the container is then deleted like `delete
--force` (poststop hooks run). descriptors.json beside the images names the init's
stdio (`pipe:[N]`, `/dev/null`), so that restore can hand new pipes in their place.
"""

from __future__ import annotations

import os

from shim.criu import rpc_pb2 as rpc
from shim.criu.logfile import with_log
from shim.criu.swrk import run_swrk
from shim.criu.version import criu_features, require_version
from shim.errors import CriuError, InvalidConfig, ShimError, Unsupported
from shim.record_decoder import convert
from shim.runtime.container import Container
from shim.runtime.create import cgroup_mount_dirs
from shim.runtime.criu_mounts import dump_mounts, masked_files
from shim.runtime.criu_namespaces import external_at_dump
from shim.runtime.criu_options import CheckpointOptions, CheckpointResult, check_options
from shim.runtime.criu_request import DUMP_LOG, dump_request
from shim.runtime.delete import delete_container
from shim.runtime.status import STOPPED
from shim.spec.model import Spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cancel import CancelToken
    from shim.children import ChildReaper
    from shim.criu.exchange import Notification
    from shim.runtime.state_store import ContainerDir, StateStore

DESCRIPTORS = "descriptors.json"  # runc's name: restore reads it (ours and runc's images)
CHECKPOINTED = "checkpoint"  # runc's marker in the state dir, made at post-dump
SOFT_DIRTY = (
    "--pre-dump needs criu's memory tracking, which this kernel does not offer: it lacks "
    "soft-dirty page tracking (CONFIG_MEM_SOFT_DIRTY; `criu check --feature "
    "mem_dirty_track` fails); checkpoint without --pre-dump"
)


def checkpoint_container(
    store: StateStore,
    container_id: str,
    opts: CheckpointOptions,
    reaper: ChildReaper,
    cancel: CancelToken | None = None,
) -> CheckpointResult:
    """Dump the container into opts.image_path; then delete it unless opts.leave_running or
    opts.pre_dump. criu is a child adopted by `reaper`. WrongState in created/stopped,
    CriuTooOld, CriuError (with criu's log quoted), InvalidArgument/Unsupported for bad
    options, TimedOut/Cancelled."""
    check_options(opts)
    image_path = _prepare_paths(opts)
    with Container.open(store, container_id, lock=True) as container:
        container.require("checkpoint")
        version = require_version(opts.criu, reaper, cancel)
        _check_features(opts, reaper, cancel)
        pidfd = container.open_init()  # the pid stays this process while we dump it
        try:
            log_file = _dump(container, opts, image_path, reaper, cancel)
        finally:
            os.close(pidfd)
        status = container.refresh()
    if not (opts.leave_running or opts.pre_dump):  # runc destroys it once criu killed it
        delete_container(store, container_id, reaper, force=True, cancel=cancel)
        status = STOPPED
    return CheckpointResult(
        image_path=image_path, log_file=log_file, criu_version=str(version), status=status
    )


def _prepare_paths(opts: CheckpointOptions) -> str:
    """Make the image dir (and work dir); check --parent-path as runc does."""
    image_path = os.path.abspath(opts.image_path)
    for path in (image_path, opts.work_path):
        if not path:
            continue
        try:
            os.makedirs(path, 0o700, exist_ok=True)
        except OSError as err:
            raise ShimError(f"mkdir {path}: {(err.strerror or str(err)).lower()}") from None
    if opts.parent_path:
        if os.path.isabs(opts.parent_path):
            raise InvalidConfig("--parent-path must be relative")
        parent = os.path.join(image_path, opts.parent_path)
        if not os.path.isdir(parent):
            reason = "not a directory" if os.path.exists(parent) else "no such file or directory"
            raise InvalidConfig(f"invalid --parent-path: stat {parent}: {reason}")
    return image_path


def _check_features(
    opts: CheckpointOptions, reaper: ChildReaper, cancel: CancelToken | None
) -> None:
    if not opts.pre_dump:
        return
    have = criu_features(opts.criu, rpc.criu_features(mem_track=True), reaper, cancel)
    if not have.mem_track:
        raise Unsupported(SOFT_DIRTY)


def _descriptors(pid: int) -> list[str]:
    """What the init's fds 0-2 are (`pipe:[N]`, a path), "" where unreadable (runc's rule)."""
    found = []
    for fd in range(3):
        try:
            found.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except PermissionError:
            found.append("")
        except FileNotFoundError:
            found.append("")
    return found


def _freezer(cgroup_paths: dict[str, str]) -> str:
    """criu freezes through the v1 freezer, or the v2 cgroup when there is no v1."""
    return cgroup_paths.get("freezer") or (
        cgroup_paths.get("", "") if len(cgroup_paths) == 1 else ""
    )


def _dump(
    container: Container,
    opts: CheckpointOptions,
    image_path: str,
    reaper: ChildReaper,
    cancel: CancelToken | None,
) -> str:
    state = container.state
    spec = convert(state.config, Spec)
    log_dir = opts.work_path or image_path
    log_file = os.path.join(log_dir, DUMP_LOG)
    fds: list[int] = []
    try:
        image_fd = os.open(image_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fds.append(image_fd)
        work_fd = None
        if opts.work_path:
            work_fd = os.open(opts.work_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fds.append(work_fd)
        ext = dump_mounts(
            spec, state.rootfs, cgroup_mount_dirs(state.cgroup_paths), masked_files(spec, state.pid)
        )
        request = dump_request(
            opts,
            pid=state.pid,
            rootfs=state.rootfs,
            image_fd=image_fd,
            work_fd=work_fd,
            freeze_cgroup=_freezer(state.cgroup_paths),
            external_ns=external_at_dump(spec),
            ext_mounts=ext,
            annotations=state.annotations,
        )
        if not opts.pre_dump:
            _write_descriptors(image_path, _descriptors(state.pid))
        try:
            run_swrk(
                request,
                reaper=reaper,
                binary=opts.criu,
                on_notify=lambda note: _on_notify(note, container.cdir),
                timeout=opts.timeout,
                cancel=cancel,
            )
        except CriuError as err:
            raise with_log(err, log_file) from None
    finally:
        for fd in fds:
            os.close(fd)
    return log_file


def _write_descriptors(image_path: str, descriptors: list[str]) -> None:
    from shim.json_codec import dumps

    path = os.path.join(image_path, DESCRIPTORS)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, dumps(descriptors).encode())
    finally:
        os.close(fd)


def _on_notify(note: Notification, cdir: ContainerDir) -> None:
    """runc's dump-side callbacks. network-lock/-unlock: runc (un)plugs the veths it
    configured itself; this runtime configures none, so there is nothing to do.
    status-ready comes only with lazy pages, which are refused."""
    if note.script == "post-dump":
        os.close(os.open(os.path.join(cdir.path, CHECKPOINTED), os.O_CREAT | os.O_CLOEXEC, 0o600))
