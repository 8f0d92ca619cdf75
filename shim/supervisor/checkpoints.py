"""The supervisor's checkpoint/restore path (criu): dump a running container, and the
container created from a checkpoint, which nothing runs until its start restores it
(containerd's Create with a checkpoint, then Start)."""

from __future__ import annotations

import msgspec

from shim.errors import WrongState
from shim.supervisor.blocking import run_blocking
from shim.supervisor.core import own_pid_namespace
from shim.supervisor.events import Created, Started
from shim.supervisor.stdio_setup import StdioSetup, close_copies, dup_fd, fds_of

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cancel import CancelToken
    from shim.runtime.create import Created as Created_
    from shim.runtime.criu_options import CheckpointOptions, CheckpointResult, RestoreOptions
    from shim.supervisor.core import ContainerRecord, Core
    from shim.supervisor.process import ProcessHandle
    from shim.supervisor.stdio_setup import StdioSpec


async def checkpoint(core: Core, container_id: str, options: CheckpointOptions) -> CheckpointResult:
    from shim.runtime.checkpoint import checkpoint_container

    record = core.get(container_id)
    async with record.lock:
        return await run_blocking(
            lambda token: checkpoint_container(
                core.store, container_id, options, core.reaper, token
            )
        )


async def create_from_checkpoint(
    core: Core, record: ContainerRecord, options: RestoreOptions, stdio: StdioSpec
) -> ProcessHandle:
    """Read the bundle and keep what the restore needs; nothing runs yet (pid 0)."""
    from shim.runtime.create import load_bundle

    try:
        loaded = await run_blocking(lambda _: load_bundle(record.bundle))
    except BaseException:
        del core.containers[record.id]
        raise
    record.own_pid_ns = own_pid_namespace(loaded[0])
    record.init.terminal = bool(loaded[0].process and loaded[0].process.terminal)
    fds = fds_of(stdio)
    if fds is not None:  # used at start: copies of ours, whatever the caller does
        stdio = (dup_fd(fds[0]), dup_fd(fds[1]), dup_fd(fds[2]))
    record.restore = (msgspec.structs.replace(options, loaded=loaded), stdio)
    core.bus.publish(Created(record.id, 0, record.bundle))
    return record.init


async def restore(core: Core, record: ContainerRecord) -> ProcessHandle:
    """The start of a container created from a checkpoint: criu restores its tree."""
    from shim.runtime.restore import restore_container

    handle = record.init
    async with record.lock:
        if record.restore is None:
            raise WrongState(f"container {record.id}: cannot start a {handle.status} process")
        opts, stdio = record.restore
        handle.starting()
        try:
            with StdioSetup(stdio, handle.terminal) as setup:
                await setup.ready()
                opts = msgspec.structs.replace(
                    opts, stdio=setup.child_stdio, console_fd=setup.console_theirs
                )

                def run(token: CancelToken) -> Created_:
                    return restore_container(
                        core.store, record.id, record.bundle, opts, core.reaper, token
                    )

                try:
                    created = await run_blocking(run)
                finally:
                    close_copies(stdio)
                    record.restore = None  # one try: a failed restore stays failed
                handle.child = created.init
                handle.started = True
                await setup.attach(core.group, handle)
            core.group.start_soon(core.watch_exit, record, handle)
            await core.watch_oom(record)
            core.bus.publish(Started(record.id, handle.pid))
        finally:
            handle.start_settled()
    return handle
