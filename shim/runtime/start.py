"""`start`: open the exec fifo, which releases the init to execve; then poststart hooks.

The init writes "0" once the fifo opens, runs the startContainer hooks, and
execs; its write end is close-on-exec, so EOF means "exec happened". Text after
the "0" is an error the init reports (a failing startContainer hook, a failed
execve): start fails with it, as the OCI spec asks, and the container stops.
"""

from __future__ import annotations

import os

from shim.cancel import wait_readable
from shim.errors import InitFailed, WrongState
from shim.runtime.container import Container

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cancel import CancelToken
    from shim.children import ChildReaper
    from shim.runtime.state_store import State, StateStore


def _read_fifo(fifo: int, pidfd: int, deadline: float | None, cancel: CancelToken | None) -> bytes:
    """Read the fifo to EOF; stop early if the init dies before it ever opens its end."""
    data = bytearray()
    while True:
        ready = wait_readable([fifo, pidfd], deadline, cancel, "start: wait for the init to exec")
        if fifo in ready:
            try:
                chunk = os.read(fifo, 65536)
            except BlockingIOError:
                chunk = None
            if chunk:
                data += chunk
                continue
            if chunk == b"" and _hung_up(fifo):
                return bytes(data)
        if pidfd in ready:
            try:  # dead: take what it managed to write
                while chunk := os.read(fifo, 65536):
                    data += chunk
            except BlockingIOError:
                pass
            return bytes(data)


def _hung_up(fifo: int) -> bool:
    """EOF on a fifo read means no writer; before the init opened its end that is also
    true, so ask poll whether the writer came and went (POLLHUP)."""
    import select

    poller = select.poll()
    poller.register(fifo, select.POLLIN)
    return any(ev & select.POLLHUP for _, ev in poller.poll(0))


def release(
    state: State,
    fifo_path: str,
    deadline: float | None = None,
    cancel: CancelToken | None = None,
) -> None:
    """Let the init exec; raise if it reports an error instead. `deadline` bounds the wait
    (the init runs startContainer hooks before it execs); `cancel` ends it."""
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
        data = _read_fifo(fifo, pidfd, deadline, cancel)
    finally:
        os.close(fifo)
        os.close(pidfd)
    if not data:
        raise WrongState("container process is already dead")
    try:
        os.unlink(fifo_path)
    except FileNotFoundError:
        pass
    if data[:1] != b"0":
        raise InitFailed(f"unexpected data on the exec fifo: {data[:40]!r}")
    if len(data) > 1:
        raise InitFailed(data[1:].decode("utf-8", "replace"))


def poststart(state: State, reaper: ChildReaper, cancel: CancelToken | None = None) -> None:
    """OCI: after the user process started. A failing hook is a warning, the container runs on."""
    raw = state.hooks("poststart")
    if not raw:
        return
    from shim.runtime.hooks import HookSpec, run_hooks_warning
    from shim.spec.oci_state import oci_state

    hooks = [HookSpec.from_dict(h) for h in raw]
    doc = oci_state(state.id, "running", state.pid, state.bundle, state.annotations)
    run_hooks_warning(hooks, doc, state.bundle, "poststart", reaper, cancel)


def start_container(
    store: StateStore,
    container_id: str,
    reaper: ChildReaper,
    *,
    deadline: float | None = None,
    cancel: CancelToken | None = None,
) -> State:
    """Release a created container's init to exec its process, then run poststart hooks."""
    with Container.open(store, container_id, lock=True) as container:
        container.require("start")
        release(container.state, container.fifo_path, deadline, cancel)
    poststart(container.state, reaper, cancel)
    return container.state
