"""When the shim daemon ends: a Shutdown RPC with no container left, or SIGTERM/SIGINT.

The daemon's main task waits on `wait()`; whoever decides to stop calls
`request_shutdown(reason)` (Shutdown does it only after its reply is written).
"""

from __future__ import annotations

import anyio


class Lifecycle:
    def __init__(self) -> None:
        self._stop = anyio.Event()
        self.reason = ""

    def request_shutdown(self, reason: str) -> None:
        if not self._stop.is_set():
            self.reason = reason
            self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def wait(self) -> None:
        await self._stop.wait()
