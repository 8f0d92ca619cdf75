"""`shim` and `python -m shim`: parse runc's command line, run one verb, turn errors into
runc's exit codes and log lines.

Only the verb's own module is imported (`VERBS`): start-up time is a feature.
"""

from __future__ import annotations

import os
import sys

from shim import OCI_VERSION, __version__
from shim.cli.args import Invocation, help_text, parse_command, parse_globals
from shim.errors import ExecFailed, ShimError, UnknownCommand, UsageError, os_error_text
from shim.logs import Logger, get_logger, report_fatal, setup

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# verb -> the module of shim.cli that holds its `cmd_<verb>`.
VERBS = {
    "create": "create",
    "run": "create",
    "start": "lifecycle",
    "kill": "lifecycle",
    "delete": "lifecycle",
    "pause": "lifecycle",
    "resume": "lifecycle",
    "state": "query",
    "list": "query",
    "ps": "ps",
    "exec": "exec",
    "update": "update",
    "events": "events",
    "spec": "spec",
    "features": "spec",
    "checkpoint": "criu",
    "restore": "criu",
}
FAILED_PREFIX = {
    "create": "shim create failed: ",
    "run": "shim run failed: ",
    "exec": "exec failed: ",
}


def _verb(command: str) -> Callable[[Invocation], int]:
    module = f"shim.cli.{VERBS[command]}"
    __import__(module)  # importlib itself would cost an import
    verb: Callable[[Invocation], int] = getattr(sys.modules[module], f"cmd_{command}")
    return verb


def _missing_preserved_fd(inv: Invocation) -> ShimError | None:
    """--preserve-fds must name fds the caller gave us: checked before we open any fd
    (the --log file, the console socket, the state dir), or one of ours would pass for it."""
    if inv.command not in ("create", "run", "exec") or inv.help:
        return None
    count = inv.flag_int("preserve-fds")
    for fd in range(3, 3 + count):
        try:
            os.fstat(fd)
        except OSError:
            return ShimError(
                f"unable to stat preserved-fd {fd - 3} (of {count}): "
                f"stat /proc/self/fd/{fd}: no such file or directory"
            )
    return None


def _version() -> str:
    py = ".".join(str(n) for n in sys.version_info[:3])
    return f"shim version {__version__}\nspec: {OCI_VERSION}\npython: {py}\n"


def _dispatch(inv: Invocation, log: Logger) -> int:
    if inv.version:
        sys.stdout.write(_version())
        return 0
    if inv.help or inv.command is None:
        sys.stdout.write(help_text(inv.command))
        return 0
    try:
        return _verb(inv.command)(inv)
    except ShimError as err:
        prefix = FAILED_PREFIX.get(inv.command)
        if prefix and not str(err).startswith(prefix):
            if inv.command == "exec":
                raise ExecFailed(f"{prefix}{err}") from None
            raise type(err)(f"{prefix}{err}") from None
        raise


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    prog = os.path.basename(sys.argv[0]) if sys.argv else "shim"
    log = get_logger()
    try:
        inv = parse_globals(argv)
        usage: UsageError | None = None
        try:
            parse_command(inv, prog)
            missing = _missing_preserved_fd(inv)
        except UsageError as err:
            usage, missing = err, None
        log = setup(
            inv.global_str("log") or None, inv.global_str("log-format"), inv.global_bool("debug")
        )
        if usage is not None:
            raise usage
        if missing is not None:
            raise missing
        return _dispatch(inv, log)
    except UsageError as err:
        sys.stdout.write(err.help_text)
        report_fatal(log, str(err))
        return err.exit_code
    except UnknownCommand as err:
        report_fatal(log, f"{err}\n")
        return err.exit_code
    except ShimError as err:
        report_fatal(log, str(err))
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # a bug: say so plainly, with the traceback under --debug
        if log.enabled("debug"):
            import traceback

            traceback.print_exc()
        report_fatal(log, f"internal error: {type(err).__name__}: {os_error_text(err)}")
        return 1
