"""The supervisor's exec'd processes: added (containerd's Exec), started, deleted.

An exec'd process is a child of ours like the init: its helper joins the container's
namespaces and cgroups (shim.runtime.exec), its handle holds the pidfd, and its exit
is watched, reaped once and announced by the Core.
"""

from __future__ import annotations

import _signal
import signal

import anyio

from shim.cgroups.prime import prime_cgroup_migration
from shim.errors import AlreadyExists, NotFound, WrongState
from shim.supervisor.blocking import run_blocking
from shim.supervisor.events import ExecAdded, ExecStarted
from shim.supervisor.process import STOPPED, ProcessHandle
from shim.supervisor.stdio_setup import StdioSetup

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.children import Exit
    from shim.spec.model import Process
    from shim.supervisor.core import ContainerRecord, Core
    from shim.supervisor.stdio_setup import StdioSpec


def add_exec(
    core: Core, container_id: str, exec_id: str, process: Process | bytes, stdio: StdioSpec
) -> ProcessHandle:
    """Register the process; `start_exec` runs it."""
    from shim.spec.load import load_process
    from shim.spec.process_rules import validate_process

    record = core.get(container_id)
    if not exec_id:
        raise NotFound("exec id must not be empty")
    if exec_id in record.execs:
        raise AlreadyExists(f"id {exec_id}: already exists")
    if record.init.status == STOPPED:
        raise WrongState(f"container {container_id}: cannot exec in a stopped container")
    proc = load_process(process, "process") if isinstance(process, bytes) else process
    validate_process(proc)
    record.execs[exec_id] = ProcessHandle(container_id, exec_id, terminal=proc.terminal)
    record.pending[exec_id] = (proc, stdio)
    core.bus.publish(ExecAdded(container_id, exec_id))
    return record.execs[exec_id]


def forget_added(core: Core, container_id: str, exec_id: str) -> None:
    """An exec whose start failed is gone: its id may be used again."""
    record = core.containers.get(container_id)
    if record is not None:
        record.execs.pop(exec_id, None)
        record.pending.pop(exec_id, None)


async def start_exec(core: Core, record: ContainerRecord, exec_id: str) -> ProcessHandle:
    from shim.runtime.exec import ExecOptions, exec_process

    handle = core.exec_handle(record, exec_id)
    pending = record.pending.pop(exec_id, None)
    if pending is None:
        raise WrongState(f"exec {exec_id}: cannot start a {handle.status} process")
    prime_cgroup_migration()  # the exec'd helper joins the cgroups too
    proc, stdio = pending
    handle.starting()
    try:
        with StdioSetup(stdio, handle.terminal) as setup:
            await setup.ready()
            opts = ExecOptions(
                process=proc, stdio=setup.child_stdio, console_fd=setup.console_theirs
            )
            handle.child = await run_blocking(
                lambda token: exec_process(core.store, record.id, opts, core.reaper, cancel=token)
            )
            handle.started = True
            await setup.attach(core.group, handle)
        core.group.start_soon(core.watch_exit, record, handle)
        core.bus.publish(ExecStarted(record.id, exec_id, handle.pid))
    except BaseException:
        record.execs.pop(exec_id, None)
        raise
    finally:
        handle.start_settled()
    return handle


async def delete_exec(core: Core, record: ContainerRecord, exec_id: str, force: bool) -> Exit:
    handle = core.exec_handle(record, exec_id)
    if handle.child is None:  # added, never started
        record.execs.pop(exec_id)
        record.pending.pop(exec_id, None)
        from shim.children import Exit

        return Exit(0, 0, 0)
    if not handle.exited:
        if not force:
            raise WrongState(f"exec {exec_id}: cannot delete a running process")
        try:
            _signal.pidfd_send_signal(handle.pidfd, signal.SIGKILL)
        except ProcessLookupError:
            pass
    with anyio.CancelScope(shield=True):
        exit_ = await handle.wait()
        await core.forget(handle)
    record.execs.pop(exec_id, None)
    return exit_
