"""The verbs that move a container through its states: start, kill, delete, pause, resume."""

from __future__ import annotations

from shim.cli.common import store_of as _store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cli.args import Invocation


def cmd_start(inv: Invocation) -> int:
    from shim.runtime.start import start_container
    from shim.supervisor.reaper import Reaper

    start_container(_store(inv), inv.args[0], Reaper())
    return 0


def cmd_kill(inv: Invocation) -> int:
    from shim.runtime.kill import kill_container, parse_signal

    sig = parse_signal(inv.args[1] if len(inv.args) > 1 else "SIGTERM")
    kill_container(_store(inv), inv.args[0], sig, all_processes=inv.flag_bool("all"))
    return 0


def cmd_delete(inv: Invocation) -> int:
    from shim.runtime.delete import delete_container
    from shim.supervisor.reaper import Reaper

    delete_container(_store(inv), inv.args[0], Reaper(), force=inv.flag_bool("force"))
    return 0


def cmd_pause(inv: Invocation) -> int:
    from shim.runtime.pause import pause_container

    pause_container(_store(inv), inv.args[0])
    return 0


def cmd_resume(inv: Invocation) -> int:
    from shim.runtime.pause import resume_container

    resume_container(_store(inv), inv.args[0])
    return 0
