"""Running the runtime's sync operations from async code, cancellably.

The runtime library is sync (one-shot CLI commands need no event loop). The supervisor
runs its longer operations (create's handshake and hooks, start's wait for the exec,
delete, the freezer) in a worker thread with a `CancelToken`: when the calling task is
cancelled the token fires, the operation's waits raise `Cancelled`, it undoes what it
made, and only then does the call return (the cancel is delivered after the cleanup).
"""

from __future__ import annotations

import anyio
import anyio.lowlevel

from shim.cancel import CancelToken
from shim.errors import Cancelled

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    T = TypeVar("T")


async def run_blocking(fn: Callable[[CancelToken], T]) -> T:
    """`fn(token)` in a worker thread; a cancel of the caller triggers `token`, and once
    `fn` has cleaned up and raised `Cancelled`, the caller's own cancellation arrives.
    `fn`'s own error is raised as it is (never wrapped in an exception group)."""
    token = CancelToken()
    finished = False
    results: list[T] = []
    failure: BaseException | None = None
    fired = False

    async def fire_on_cancel() -> None:
        try:
            await anyio.sleep_forever()
        finally:
            if not finished:
                token.trigger()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(fire_on_cancel)
            try:
                results.append(await anyio.to_thread.run_sync(fn, token))
            except Exception as err:
                failure, fired = err, token.cancelled
            finally:
                finished = True
                tg.cancel_scope.cancel()
    finally:
        token.close()
    if isinstance(failure, Cancelled) and fired:
        await anyio.lowlevel.checkpoint()  # raises the caller's pending cancellation
    if failure is not None:
        raise failure
    return results[0]
