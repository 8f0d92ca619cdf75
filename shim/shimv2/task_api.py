"""The Task service's shape: `containerd.task.v2.Task`, its 17 methods, typed.

`TaskAPI` is what an implementation provides: one coroutine per RPC, protobuf
request in, protobuf reply out, errors raised as ShimError (or TtrpcError) and
turned into statuses by the server. `task_methods(impl)` maps method names to the
registry's RawHandlers; a test checks the table against shim.proto's descriptor.
"""

from __future__ import annotations

from typing import Protocol

from google.protobuf.empty_pb2 import Empty

from shim.shimv2.proto import shim_pb2 as pb
from shim.shimv2.services import CallContext, RawHandler, unary

TASK_SERVICE = "containerd.task.v2.Task"


class TaskAPI(Protocol):
    async def state(self, req: pb.StateRequest, ctx: CallContext) -> pb.StateResponse: ...
    async def create(
        self, req: pb.CreateTaskRequest, ctx: CallContext
    ) -> pb.CreateTaskResponse: ...
    async def start(self, req: pb.StartRequest, ctx: CallContext) -> pb.StartResponse: ...
    async def delete(self, req: pb.DeleteRequest, ctx: CallContext) -> pb.DeleteResponse: ...
    async def pids(self, req: pb.PidsRequest, ctx: CallContext) -> pb.PidsResponse: ...
    async def pause(self, req: pb.PauseRequest, ctx: CallContext) -> Empty: ...
    async def resume(self, req: pb.ResumeRequest, ctx: CallContext) -> Empty: ...
    async def checkpoint(self, req: pb.CheckpointTaskRequest, ctx: CallContext) -> Empty: ...
    async def kill(self, req: pb.KillRequest, ctx: CallContext) -> Empty: ...
    async def exec(self, req: pb.ExecProcessRequest, ctx: CallContext) -> Empty: ...
    async def resize_pty(self, req: pb.ResizePtyRequest, ctx: CallContext) -> Empty: ...
    async def close_io(self, req: pb.CloseIORequest, ctx: CallContext) -> Empty: ...
    async def update(self, req: pb.UpdateTaskRequest, ctx: CallContext) -> Empty: ...
    async def wait(self, req: pb.WaitRequest, ctx: CallContext) -> pb.WaitResponse: ...
    async def stats(self, req: pb.StatsRequest, ctx: CallContext) -> pb.StatsResponse: ...
    async def connect(self, req: pb.ConnectRequest, ctx: CallContext) -> pb.ConnectResponse: ...
    async def shutdown(self, req: pb.ShutdownRequest, ctx: CallContext) -> Empty: ...


def task_methods(impl: TaskAPI) -> dict[str, RawHandler]:
    """The registry entry for `containerd.task.v2.Task` served by `impl`."""
    return {
        "State": unary(pb.StateRequest, impl.state),
        "Create": unary(pb.CreateTaskRequest, impl.create),
        "Start": unary(pb.StartRequest, impl.start),
        "Delete": unary(pb.DeleteRequest, impl.delete),
        "Pids": unary(pb.PidsRequest, impl.pids),
        "Pause": unary(pb.PauseRequest, impl.pause),
        "Resume": unary(pb.ResumeRequest, impl.resume),
        "Checkpoint": unary(pb.CheckpointTaskRequest, impl.checkpoint),
        "Kill": unary(pb.KillRequest, impl.kill),
        "Exec": unary(pb.ExecProcessRequest, impl.exec),
        "ResizePty": unary(pb.ResizePtyRequest, impl.resize_pty),
        "CloseIO": unary(pb.CloseIORequest, impl.close_io),
        "Update": unary(pb.UpdateTaskRequest, impl.update),
        "Wait": unary(pb.WaitRequest, impl.wait),
        "Stats": unary(pb.StatsRequest, impl.stats),
        "Connect": unary(pb.ConnectRequest, impl.connect),
        "Shutdown": unary(pb.ShutdownRequest, impl.shutdown),
    }
