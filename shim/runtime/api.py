"""The runtime as a library: what the CLI verbs and the containerd shim call, in-process.

Blocking calls (create, start, kill, delete) are short and synchronous; an async
caller runs them with `anyio.to_thread.run_sync`. Waiting for exit is async:
`wait_exit` sleeps on the init's pidfd in the event loop and reaps it when the
caller is its parent or subreaper (the shim), so no thread blocks in wait().
"""

from __future__ import annotations

import os

from shim.runtime.create import CreateOptions, create_container
from shim.runtime.delete import delete_container
from shim.runtime.kill import kill_container
from shim.runtime.query import container_state, list_containers
from shim.runtime.start import start_container
from shim.runtime.state_store import DEFAULT_ROOT, State, StateStore
from shim.runtime.status import open_init

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.children import ChildReaper


class Runtime:
    """Containers under one state root (runc's `--root`)."""

    def __init__(self, reaper: ChildReaper, root: str = DEFAULT_ROOT) -> None:
        self.store = StateStore(root)
        self.reaper = reaper

    def create(self, container_id: str, bundle: str, opts: CreateOptions | None = None) -> State:
        opts = opts or CreateOptions()
        return create_container(self.store, container_id, bundle, opts, self.reaper).state

    def start(self, container_id: str) -> State:
        return start_container(self.store, container_id, self.reaper)

    def kill(self, container_id: str, sig: int, all_processes: bool = False) -> None:
        kill_container(self.store, container_id, sig, all_processes)

    def delete(self, container_id: str, force: bool = False) -> None:
        delete_container(self.store, container_id, self.reaper, force)

    def state(self, container_id: str) -> dict[str, object]:
        return container_state(self.store, container_id)

    def list(self) -> list[dict[str, object]]:
        return list_containers(self.store)[0]

    def pidfd(self, container_id: str) -> int:
        """A pidfd of the init, checked to be the process create started (not a reused pid)."""
        return open_init(self.store.read(container_id))


async def wait_exit(pidfd: int) -> int | None:
    """Wait (async) until the process exits; its exit code (128+N if killed) when we may reap it.

    Returns None when the process is not our child (someone else reaps it).
    """
    import anyio

    await anyio.wait_readable(pidfd)
    return reap(pidfd)


def reap(pidfd: int) -> int | None:
    """Collect an exited child's status without blocking (WNOHANG); None if not ours or not yet."""
    try:
        info = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG)
    except ChildProcessError:
        return None
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else 128 + info.si_status
