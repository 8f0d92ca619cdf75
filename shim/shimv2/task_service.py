"""The Task service on the supervisor: every RPC a typed call of the runtime, in-process.

No runtime binary is exec'd per operation: Create, Start, Exec, Kill, Delete... call
`shim.supervisor.Supervisor`, which runs the containers of this shim (one, or a group)
in this process, owns their stdio (containerd's fifos, a pty) and reaps every exit once.
The supervisor's lifecycle events become containerd's /tasks/* events, in its order,
through the publisher (`events_bridge`).

Errors: a ShimError carries its gRPC code (NotFound, AlreadyExists, FailedPrecondition,
InvalidArgument, Unimplemented...); the ttrpc server turns it into the reply's status.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeAlias

import anyio
from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.empty_pb2 import Empty

from shim.errors import AlreadyExists, InvalidArgument, Unsupported
from shim.io.process_io import ProcessIO, Stdio
from shim.logs import get_logger
from shim.runtime.create import CreateOptions
from shim.shimv2.daemon import ShimContext
from shim.shimv2.metrics import metrics_any
from shim.shimv2.options_wire import RUNC_OPTIONS, RUNTIME_OPTIONS, ShimOptions
from shim.shimv2.proto import events_task_pb2 as ev
from shim.shimv2.proto import runc_options_pb2, task_types_pb2
from shim.shimv2.proto import shim_pb2 as pb
from shim.shimv2.rootfs_mounts import mount_all, unmount_all
from shim.shimv2.services import CallContext
from shim.shimv2.task_api import TaskAPI
from shim.shimv2.task_base import TaskServiceBase
from shim.supervisor import events
from shim.supervisor.process import CREATED, RUNNING, STOPPED
from shim.supervisor.supervisor import Supervisor

if TYPE_CHECKING:
    from shim.runtime.criu_options import CheckpointOptions, RestoreOptions

PROCESS_DETAILS = "containerd.runc.v1.ProcessDetails"
ContainerdEvent: TypeAlias = (
    ev.TaskCreate
    | ev.TaskStart
    | ev.TaskExit
    | ev.TaskDelete
    | ev.TaskOOM
    | ev.TaskExecAdded
    | ev.TaskExecStarted
    | ev.TaskPaused
    | ev.TaskResumed
)
STATUS = {
    CREATED: task_types_pb2.CREATED,
    RUNNING: task_types_pb2.RUNNING,
    STOPPED: task_types_pb2.STOPPED,
    "paused": task_types_pb2.PAUSED,
}


def timestamp(ns: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=ns // 10**9, nanos=ns % 10**9)


class _Container:
    """What the shim remembers of a container beyond the supervisor: what Create asked for
    (for the TaskCreate event) and whether it mounted the rootfs (for Delete)."""

    def __init__(self, req: pb.CreateTaskRequest, mounted: int) -> None:
        self.bundle = req.bundle
        self.rootfs = list(req.rootfs)
        self.io = ev.TaskIO(
            stdin=req.stdin, stdout=req.stdout, stderr=req.stderr, terminal=req.terminal
        )
        self.checkpoint = req.checkpoint
        self.mounted = mounted


class _Tasks:
    """Connect and Shutdown's view: the containers this shim runs."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup

    def __len__(self) -> int:
        return len(self.sup.container_ids())

    def init_pid(self, container_id: str) -> int | None:
        return self.sup.init_pid(container_id)


def create_options(options: any_pb2.Any) -> CreateOptions:
    """containerd.runc.v1.Options' runc flags (no_pivot_root, no_new_keyring); an empty Any
    or runtimeoptions.v1.Options (our config: read by `start`) change nothing."""
    opts = CreateOptions()
    if not options.type_url or options.type_url == RUNTIME_OPTIONS:
        return opts
    if options.type_url != RUNC_OPTIONS:
        raise InvalidArgument(f"runtime options of type {options.type_url!r} are not supported")
    runc = runc_options_pb2.Options()
    runc.ParseFromString(options.value)
    if runc.systemd_cgroup:
        raise Unsupported("runtime options: SystemdCgroup: only the cgroupfs driver exists")
    opts.no_pivot = runc.no_pivot_root
    opts.no_new_keyring = runc.no_new_keyring
    return opts


CHECKPOINT_OPTIONS = "containerd.runc.v1.CheckpointOptions"
CGROUPS_MODES = {0: "", 1: "soft", 2: "full", 3: "strict"}  # containerd's CgroupsMode names


def _criu() -> str:
    """criu as runc would find it: $SHIM_CRIU (what the runtime's --criu falls back to),
    else `criu` on PATH."""
    return os.environ.get("SHIM_CRIU") or "criu"


def checkpoint_options(path: str, options: any_pb2.Any) -> CheckpointOptions:
    """CheckpointTaskRequest's path and containerd.runc.v1.CheckpointOptions (exit,
    open_tcp, external_unix_sockets, terminal, file_locks, empty_namespaces,
    cgroups_mode, image_path, work_path) as the runtime's options."""
    from shim.runtime.criu_options import CheckpointOptions

    ckpt = runc_options_pb2.CheckpointOptions()
    if options.type_url:
        if options.type_url != CHECKPOINT_OPTIONS:
            raise InvalidArgument(f"checkpoint options of type {options.type_url!r}")
        ckpt.ParseFromString(options.value)
    image = ckpt.image_path or path
    if not image:
        raise InvalidArgument("checkpoint: no image path")
    return CheckpointOptions(
        image_path=image,
        work_path=ckpt.work_path,
        leave_running=not ckpt.exit,
        tcp_established=ckpt.open_tcp,
        ext_unix_sk=ckpt.external_unix_sockets,
        shell_job=ckpt.terminal,
        file_locks=ckpt.file_locks,
        empty_ns=list(ckpt.empty_namespaces),
        manage_cgroups_mode=_cgroups_mode(ckpt.cgroups_mode),
        criu=_criu(),
    )


def _cgroups_mode(value: str | int) -> str:
    return CGROUPS_MODES.get(value, "") if isinstance(value, int) else value


def restore_options(image: str, options: any_pb2.Any) -> RestoreOptions:
    """Create's `checkpoint` (an image directory containerd extracted) as restore options;
    containerd.runc.v1.Options' criu paths, when set, take precedence."""
    from shim.runtime.criu_options import RestoreOptions

    work = ""
    if options.type_url == RUNC_OPTIONS:
        runc = runc_options_pb2.Options()
        runc.ParseFromString(options.value)
        image, work = runc.criu_image_path or image, runc.criu_work_path
    return RestoreOptions(image_path=image, work_path=work, criu=_criu())


class TaskService(TaskServiceBase):
    """containerd.task.v2.Task over a Supervisor."""

    def __init__(self, ctx: ShimContext, sup: Supervisor) -> None:
        super().__init__(ctx.lifecycle, _Tasks(sup))
        self.ctx = ctx
        self.sup = sup
        self.containers: dict[str, _Container] = {}

    async def create(self, req: pb.CreateTaskRequest, ctx: CallContext) -> pb.CreateTaskResponse:
        opts = create_options(req.options)
        if req.id in self.containers:
            raise AlreadyExists(f"container {req.id}: already exists")
        rootfs = os.path.join(req.bundle, "rootfs")
        mounted = await anyio.to_thread.run_sync(mount_all, list(req.rootfs), rootfs)
        self.containers[req.id] = _Container(req, mounted)
        try:
            stdio = self._stdio(req.id, Stdio(req.stdin, req.stdout, req.stderr, req.terminal))
            restore = restore_options(req.checkpoint, req.options) if req.checkpoint else None
            handle = await self.sup.create(
                req.id, req.bundle, stdio=stdio, options=opts, checkpoint=restore
            )
        except BaseException:
            del self.containers[req.id]
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(unmount_all, rootfs, mounted)
            raise
        if handle.pid:  # a checkpoint's is known once Start restored it
            _write_pid(req.bundle, "init.pid", handle.pid)
        return pb.CreateTaskResponse(pid=handle.pid)

    async def start(self, req: pb.StartRequest, ctx: CallContext) -> pb.StartResponse:
        handle = await self.sup.start(req.id, req.exec_id)
        name = f"{req.exec_id}.pid" if req.exec_id else "init.pid"
        _write_pid(self._bundle(req.id), name, handle.pid)
        return pb.StartResponse(pid=handle.pid)

    async def delete(self, req: pb.DeleteRequest, ctx: CallContext) -> pb.DeleteResponse:
        exit_ = await self.sup.delete(req.id, req.exec_id)
        if not req.exec_id:
            record = self.containers.pop(req.id, None)
            if record is not None and record.mounted:
                rootfs = os.path.join(record.bundle, "rootfs")
                await anyio.to_thread.run_sync(unmount_all, rootfs, None)
        return pb.DeleteResponse(
            pid=exit_.pid, exit_status=exit_.status, exited_at=timestamp(exit_.exited_at)
        )

    async def state(self, req: pb.StateRequest, ctx: CallContext) -> pb.StateResponse:
        st = await self.sup.state(req.id, req.exec_id)
        reply = pb.StateResponse(
            id=req.id,
            exec_id=req.exec_id,
            bundle=st.bundle,
            pid=st.pid,
            status=STATUS.get(st.status, task_types_pb2.UNKNOWN),
            stdin=st.stdin,
            stdout=st.stdout,
            stderr=st.stderr,
            terminal=st.terminal,
            exit_status=st.exit_status,
        )
        if st.exited_at:
            reply.exited_at.CopyFrom(timestamp(st.exited_at))
        return reply

    async def pids(self, req: pb.PidsRequest, ctx: CallContext) -> pb.PidsResponse:
        reply = pb.PidsResponse()
        for info in await self.sup.pids(req.id):
            process = task_types_pb2.ProcessInfo(pid=info.pid)
            if info.exec_id:
                details = runc_options_pb2.ProcessDetails(exec_id=info.exec_id)
                process.info.CopyFrom(
                    any_pb2.Any(type_url=PROCESS_DETAILS, value=details.SerializeToString())
                )
            reply.processes.append(process)
        return reply

    async def checkpoint(self, req: pb.CheckpointTaskRequest, ctx: CallContext) -> Empty:
        """criu dumps the container into req.path (containerd then packs it into a
        checkpoint image); with `exit` it stops afterwards, as with runc-v2."""
        await self.sup.checkpoint(req.id, checkpoint_options(req.path, req.options))
        return Empty()

    async def pause(self, req: pb.PauseRequest, ctx: CallContext) -> Empty:
        await self.sup.pause(req.id)
        return Empty()

    async def resume(self, req: pb.ResumeRequest, ctx: CallContext) -> Empty:
        await self.sup.resume(req.id)
        return Empty()

    async def kill(self, req: pb.KillRequest, ctx: CallContext) -> Empty:
        # runc ignores `all` for an exec'd process: that one process gets the signal
        await self.sup.kill(
            req.id, req.signal, exec_id=req.exec_id, all_processes=req.all and not req.exec_id
        )
        return Empty()

    async def exec(self, req: pb.ExecProcessRequest, ctx: CallContext) -> Empty:
        stdio = Stdio(req.stdin, req.stdout, req.stderr, req.terminal)
        await self.sup.add_exec(
            req.id, req.exec_id, req.spec.value, stdio=self._stdio(req.id, stdio)
        )
        return Empty()

    async def resize_pty(self, req: pb.ResizePtyRequest, ctx: CallContext) -> Empty:
        self.sup.resize_pty(req.id, req.exec_id, req.width, req.height)
        return Empty()

    async def close_io(self, req: pb.CloseIORequest, ctx: CallContext) -> Empty:
        if req.stdin:
            self.sup.close_stdin(req.id, req.exec_id)
        return Empty()

    async def update(self, req: pb.UpdateTaskRequest, ctx: CallContext) -> Empty:
        await self.sup.update(req.id, req.resources.value)
        return Empty()

    async def wait(self, req: pb.WaitRequest, ctx: CallContext) -> pb.WaitResponse:
        exit_ = await self.sup.wait(req.id, req.exec_id)
        return pb.WaitResponse(exit_status=exit_.status, exited_at=timestamp(exit_.exited_at))

    async def stats(self, req: pb.StatsRequest, ctx: CallContext) -> pb.StatsResponse:
        st = await self.sup.stats(req.id)
        reply = pb.StatsResponse()
        reply.stats.CopyFrom(metrics_any(st.mode, st.data, st.cgroup_paths))
        return reply

    def _stdio(self, container_id: str, stdio: Stdio) -> Stdio | ProcessIO:
        """containerd's strings; opened here when a binary:// logger needs its environment."""
        if not stdio.stdout.startswith("binary://"):
            return stdio
        env = {"CONTAINER_ID": container_id, "CONTAINER_NAMESPACE": self.ctx.namespace}
        return ProcessIO(stdio, logger_env=env)

    def _bundle(self, container_id: str) -> str:
        record = self.containers.get(container_id)
        return record.bundle if record is not None else ""

    def event(self, event: events.Event) -> ContainerdEvent | None:
        """The containerd event for a supervisor event (None: nothing to publish)."""
        cid = event.id
        if isinstance(event, events.Created):
            record = self.containers.get(cid)
            return ev.TaskCreate(
                container_id=cid,
                bundle=event.bundle,
                rootfs=record.rootfs if record else [],
                io=record.io if record else None,
                checkpoint=record.checkpoint if record else "",
                pid=event.pid,
            )
        if isinstance(event, events.Started):
            return ev.TaskStart(container_id=cid, pid=event.pid)
        if isinstance(event, events.Exited):
            return ev.TaskExit(
                container_id=cid,
                id=event.exec_id or cid,  # CRI keys exits by this: the container's id for init
                pid=event.pid,
                exit_status=event.status,
                exited_at=timestamp(event.exited_at),
            )
        if isinstance(event, events.Deleted):
            return ev.TaskDelete(
                container_id=cid,
                pid=event.pid,
                exit_status=event.status,
                exited_at=timestamp(event.exited_at),
            )
        if isinstance(event, events.Oom):
            return ev.TaskOOM(container_id=cid)
        if isinstance(event, events.ExecAdded):
            return ev.TaskExecAdded(container_id=cid, exec_id=event.exec_id)
        if isinstance(event, events.ExecStarted):
            return ev.TaskExecStarted(container_id=cid, exec_id=event.exec_id, pid=event.pid)
        if isinstance(event, events.Paused):
            return ev.TaskPaused(container_id=cid)
        if isinstance(event, events.Resumed):
            return ev.TaskResumed(container_id=cid)
        return None


def _write_pid(bundle: str, name: str, pid: int) -> None:
    """`init.pid` / `<exec>.pid` in the bundle, as the runc shim leaves them."""
    if not bundle:
        return
    path = os.path.join(bundle, name)
    tmp = os.path.join(bundle, f".{name}")
    try:
        with open(tmp, "w") as f:
            f.write(str(pid))
        os.rename(tmp, path)
    except OSError as err:
        get_logger().warning(f"write {path}: {err.strerror}")


def _bridge(service: TaskService) -> Callable[[events.Event], None]:
    """Every supervisor event, in order, to containerd's queue, as it is published."""

    def forward(event: events.Event) -> None:
        message = service.event(event)
        if message is not None:
            service.ctx.publisher.publish(message)

    return forward


def runtime_root(ctx: ShimContext) -> str:
    """The state root `start` chose (from the runtime options), else the default."""
    from shim.shimv2.start import RUNTIME_ROOT_FILE

    try:
        with open(os.path.join(ctx.bundle, RUNTIME_ROOT_FILE)) as f:
            root = f.read().strip()
    except OSError:
        root = ""
    return root or ShimOptions().root_for(ctx.namespace)


@asynccontextmanager
async def supervised_task_service(ctx: ShimContext) -> AsyncIterator[TaskAPI]:
    """The daemon's Task service factory: a Supervisor for the shim's lifetime."""
    async with Supervisor.open(runtime_root(ctx)) as sup:
        ctx.publisher.reaper = sup.reaper  # the publish binary is a child like any other
        service = TaskService(ctx, sup)
        sup.add_listener(_bridge(service))
        yield service
