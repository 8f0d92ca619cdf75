"""`start`: open the exec fifo, which releases the init to execve; then poststart hooks.

The init writes "0" once the fifo opens, runs the startContainer hooks, and
execs; its write end is close-on-exec, so EOF means "exec happened". Text after
the "0" is an error the init reports (a failing startContainer hook, a failed
execve): start fails with it, as the OCI spec asks, and the container stops.
"""

from __future__ import annotations

import os
import select

from shim.errors import ShimError, WrongState
from shim.runtime.hooks import HookSpec, run_hooks_warning
from shim.runtime.state_store import State, StateStore
from shim.runtime.status import require, status_of
from shim.spec.oci_state import oci_state


def _read_fifo(fifo: int, pidfd: int) -> bytes:
    """Read the fifo to EOF; stop early if the init dies before it ever opens its end."""
    data = bytearray()
    poller = select.poll()
    poller.register(fifo, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    while True:
        events = dict(poller.poll())
        if fifo in events:
            chunk = os.read(fifo, 65536)
            if chunk:
                data += chunk
                continue
            if events[fifo] & select.POLLHUP:
                return bytes(data)
        if pidfd in events:
            try:  # dead: take what it managed to write
                while chunk := os.read(fifo, 65536):
                    data += chunk
            except BlockingIOError:
                pass
            return bytes(data)


def release(state: State, fifo_path: str) -> None:
    """Let the init exec; raise if it reports an error instead."""
    try:
        pidfd = os.pidfd_open(state.pid)
    except ProcessLookupError:
        raise WrongState("cannot start a container that has stopped") from None
    try:
        fifo = os.open(fifo_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        os.close(pidfd)
        raise WrongState("cannot start an already running container") from None
    try:
        data = _read_fifo(fifo, pidfd)
    finally:
        os.close(fifo)
        os.close(pidfd)
    if not data:
        raise ShimError("container process is already dead")
    try:
        os.unlink(fifo_path)
    except FileNotFoundError:
        pass
    if data[:1] != b"0":
        raise ShimError(f"unexpected data on the exec fifo: {data[:40]!r}")
    if len(data) > 1:
        raise ShimError(data[1:].decode("utf-8", "replace"))


def poststart(state: State) -> None:
    """OCI: after the user process started. A failing hook is a warning, the container runs on."""
    hooks = [HookSpec.from_dict(h) for h in state.hooks("poststart")]
    if not hooks:
        return
    doc = oci_state(state.id, "running", state.pid, state.bundle, state.annotations)
    run_hooks_warning(hooks, doc, state.bundle, "poststart")


def start_container(store: StateStore, container_id: str) -> State:
    cdir = store.open(container_id, lock=True)
    try:
        state = cdir.read_state()
        require(
            status_of(state.pid, state.start_time, state.cgroup_paths, cdir.fifo_path),
            "start",
            container_id,
        )
        release(state, cdir.fifo_path)
    finally:
        cdir.close()
    poststart(state)
    return state
