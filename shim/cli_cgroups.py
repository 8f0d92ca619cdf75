"""The cgroup verbs: pause, resume, ps, update, events."""

from __future__ import annotations

import os
import sys

from shim.cli_args import help_text
from shim.cli_common import store_of as _store
from shim.errors import ShimError, UsageError
from shim.logs import get_logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cli_args import Invocation


def cmd_pause(inv: Invocation) -> int:
    from shim.runtime.pause import pause_container

    pause_container(_store(inv), inv.args[0])
    return 0


def cmd_resume(inv: Invocation) -> int:
    from shim.runtime.pause import resume_container

    resume_container(_store(inv), inv.args[0])
    return 0


def cmd_ps(inv: Invocation) -> int:
    from shim.runtime.ps import container_pids, ps_table

    fmt = inv.flag_str("format")
    if fmt not in ("table", "json"):
        raise ShimError("invalid format option")
    pids = container_pids(_store(inv), inv.args[0])
    if fmt == "json":
        from shim.json_codec import dumps

        sys.stdout.write((dumps(pids) if pids else "null") + "\n")
    else:
        sys.stdout.write(ps_table(pids, inv.args[1:]))
    return 0


def cmd_update(inv: Invocation) -> int:
    from shim.runtime import update_request
    from shim.runtime.update import update_container

    source = inv.flag_str("resources")
    if source:
        res = update_request.from_json(_read_resources(source))
    else:
        strings = {k: v for k, v in inv.flags.items() if isinstance(v, str)}
        ints = {k: v for k, v in inv.flags.items() if isinstance(v, int)}
        res = update_request.from_flags(strings, ints, inv.given, get_logger().warning)
    update_container(_store(inv), inv.args[0], res)
    return 0


def _read_resources(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        with open(source, "rb") as f:
            return f.read()
    except OSError as err:
        raise ShimError(f"open {source}: {(err.strerror or str(err)).lower()}") from None


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
    from shim.runtime.events import print_events

    backend = os.environ.get("SHIM_ASYNC_BACKEND", "asyncio")
    return print_events(store, None if everything else inv.args[0], interval, backend)
