"""`events`: a container's stats and OOM events as JSON lines (`--all`: every container's),
or one stats line (`--stats`)."""

from __future__ import annotations

import os
import sys

from shim.cli.args import help_text
from shim.cli.common import store_of as _store
from shim.errors import ShimError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from shim.cli.args import Invocation
    from shim.runtime.state_store import StateStore


def cmd_events(inv: Invocation) -> int:
    interval = inv.flag_seconds("interval")
    if interval <= 0:
        raise ShimError("duration interval must be greater than 0")
    everything = inv.flag_bool("all")
    if not everything and len(inv.args) != 1:
        prog = os.path.basename(sys.argv[0]) if sys.argv else "shim"
        raise UsageError(
            f'{prog}: "events" requires exactly 1 argument(s)',
            f"Incorrect Usage.\n\n{help_text('events')}",
        )
    store = _store(inv)
    if inv.flag_bool("stats"):
        from shim.runtime.container_stats import stats_now, stats_of_all

        events = stats_of_all(store) if everything else [stats_now(store, inv.args[0])]
        sys.stdout.write("".join(event.to_json() + "\n" for event in events))
        return 0
    backend = os.environ.get("SHIM_ASYNC_BACKEND", "asyncio")
    return print_events(store, None if everything else inv.args[0], interval, backend)


def print_events(
    store: StateStore, container_id: str | None, interval: float, backend: str = "asyncio"
) -> int:
    """`shim events [--all]`: JSON lines on stdout until the stream ends or the reader
    goes away (both exit 0). Raises as `container_events`."""
    import anyio

    from shim.runtime.events import container_events

    async def main() -> None:
        if container_id is None:
            from shim.supervisor.all_events import all_events

            opened = all_events(store, interval)
        else:
            opened = container_events(store, container_id, interval)
        async with opened as events:
            async for event in events:
                line = event.to_json() + "\n"
                try:
                    await anyio.to_thread.run_sync(_write_line, sys.stdout, line)
                except BrokenPipeError:
                    # The reader went away: stop quietly, and keep the interpreter's
                    # final flush of stdout from complaining about the same pipe.
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, sys.stdout.fileno())
                    os.close(devnull)
                    return

    try:
        anyio.run(main, backend=backend)
    except BaseExceptionGroup as group:  # a task's error, wrapped by its task group
        raise _first_leaf(group) from None
    return 0


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


def _write_line(out: TextIO, line: str) -> None:
    out.write(line)
    out.flush()
