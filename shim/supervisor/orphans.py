"""The supervisor's orphan reaping: on SIGCHLD, and when a hold that made the reaper
skip orphans ends (a spawn in flight had a child nobody had adopted yet)."""

from __future__ import annotations

import os
import signal

import anyio
import anyio.abc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from shim.supervisor.reaper import Reaper


async def reap_orphans(reaper: Reaper, *, task_status: anyio.abc.TaskStatus[None]) -> None:
    """Until cancelled. Needs the main thread (a signal receiver)."""
    wake_r, wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)

    def wake() -> None:
        try:
            os.write(wake_w, b"\0")
        except BlockingIOError:
            pass

    reaper.on_release = wake
    try:
        with anyio.open_signal_receiver(signal.SIGCHLD) as signals:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_reap_on_signal, reaper, signals)
                task_status.started()
                reaper.reap_orphans()
                while True:
                    await anyio.wait_readable(wake_r)
                    _drain(wake_r)
                    reaper.reap_orphans()
    finally:
        reaper.on_release = None
        os.close(wake_r)
        os.close(wake_w)


async def _reap_on_signal(reaper: Reaper, signals: AsyncIterator[int]) -> None:
    async for _ in signals:
        reaper.reap_orphans()


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
