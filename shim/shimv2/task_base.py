"""The Task service before the supervisor is wired in: Connect and Shutdown as containerd
expects them (spec section 7.3), every other RPC Unimplemented (code 12).

The real service subclasses `TaskServiceBase`, overrides the RPCs with calls into the
supervisor, and keeps `tasks` (what this shim runs) up to date: Connect reports the
init's pid from it and Shutdown ends the process only when it is empty.

    Connect(id)    -> shim_pid = our pid, task_pid = the init's pid (0 if unknown), version
    Shutdown(id)   -> containers left: a no-op reply (runc ignores `now` too);
                      none left: reply, then stop serving, unlink the socket, drain
                      the event publisher and exit (the daemon does that on Lifecycle)
"""

from __future__ import annotations

import os
from typing import Protocol

from google.protobuf.empty_pb2 import Empty

from shim.shimv2.lifecycle import Lifecycle
from shim.shimv2.proto import shim_pb2 as pb
from shim.shimv2.services import CallContext
from shim.shimv2.ttrpc_status import unimplemented

VERSION = "pyshim 0.1.0 (task v2)"


class TaskTable(Protocol):
    """What the shim runs, as Connect and Shutdown need to know it."""

    def __len__(self) -> int: ...

    def init_pid(self, container_id: str) -> int | None:
        """The init's pid of a container this shim runs, else None."""
        ...


class NoTasks:
    """The table of a shim that cannot run containers yet."""

    def __len__(self) -> int:
        return 0

    def init_pid(self, container_id: str) -> int | None:
        return None


class TaskServiceBase:
    """Implements TaskAPI (shim.shimv2.task_api): Connect and Shutdown real, the rest 12."""

    def __init__(self, lifecycle: Lifecycle, tasks: TaskTable | None = None) -> None:
        self.lifecycle = lifecycle
        self.tasks: TaskTable = tasks if tasks is not None else NoTasks()

    async def connect(self, req: pb.ConnectRequest, ctx: CallContext) -> pb.ConnectResponse:
        pid = self.tasks.init_pid(req.id) or 0
        return pb.ConnectResponse(shim_pid=os.getpid(), task_pid=pid, version=VERSION)

    async def shutdown(self, req: pb.ShutdownRequest, ctx: CallContext) -> Empty:
        if len(self.tasks) == 0:
            ctx.call_after_reply(lambda: self.lifecycle.request_shutdown(f"Shutdown({req.id})"))
        return Empty()

    async def state(self, req: pb.StateRequest, ctx: CallContext) -> pb.StateResponse:
        raise unimplemented("State")

    async def create(self, req: pb.CreateTaskRequest, ctx: CallContext) -> pb.CreateTaskResponse:
        raise unimplemented("Create")

    async def start(self, req: pb.StartRequest, ctx: CallContext) -> pb.StartResponse:
        raise unimplemented("Start")

    async def delete(self, req: pb.DeleteRequest, ctx: CallContext) -> pb.DeleteResponse:
        raise unimplemented("Delete")

    async def pids(self, req: pb.PidsRequest, ctx: CallContext) -> pb.PidsResponse:
        raise unimplemented("Pids")

    async def pause(self, req: pb.PauseRequest, ctx: CallContext) -> Empty:
        raise unimplemented("Pause")

    async def resume(self, req: pb.ResumeRequest, ctx: CallContext) -> Empty:
        raise unimplemented("Resume")

    async def checkpoint(self, req: pb.CheckpointTaskRequest, ctx: CallContext) -> Empty:
        raise unimplemented("Checkpoint")

    async def kill(self, req: pb.KillRequest, ctx: CallContext) -> Empty:
        raise unimplemented("Kill")

    async def exec(self, req: pb.ExecProcessRequest, ctx: CallContext) -> Empty:
        raise unimplemented("Exec")

    async def resize_pty(self, req: pb.ResizePtyRequest, ctx: CallContext) -> Empty:
        raise unimplemented("ResizePty")

    async def close_io(self, req: pb.CloseIORequest, ctx: CallContext) -> Empty:
        raise unimplemented("CloseIO")

    async def update(self, req: pb.UpdateTaskRequest, ctx: CallContext) -> Empty:
        raise unimplemented("Update")

    async def wait(self, req: pb.WaitRequest, ctx: CallContext) -> pb.WaitResponse:
        raise unimplemented("Wait")

    async def stats(self, req: pb.StatsRequest, ctx: CallContext) -> pb.StatsResponse:
        raise unimplemented("Stats")
