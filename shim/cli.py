"""runc's command line over the runtime library: parse, call, print, exit code. Nothing else.

Each verb imports what it needs when it runs: start-up time is a feature.
"""

from __future__ import annotations

import os
import sys

from shim import OCI_VERSION, __version__
from shim.cli_args import Invocation, help_text, parse_command, parse_globals
from shim.cli_cgroups import cmd_events, cmd_pause, cmd_ps, cmd_resume, cmd_update
from shim.cli_common import console_fd as _console_fd
from shim.cli_common import preload_msgspec
from shim.cli_common import store_of as _store
from shim.cli_criu import cmd_checkpoint, cmd_restore
from shim.cli_exec import cmd_exec
from shim.errors import ExecFailed, ShimError, UnknownCommand, UsageError
from shim.logs import Logger, get_logger, report_fatal, setup

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from shim.runtime.create import CreateOptions
    from shim.spec.model import Spec

FAILED_PREFIX = {
    "create": "shim create failed: ",
    "run": "shim run failed: ",
    "exec": "exec failed: ",
}


def _create_options(inv: Invocation, terminal: bool, detached: bool) -> CreateOptions:
    from shim.runtime.create import CreateOptions

    pid_file = inv.flag_str("pid-file")
    return CreateOptions(
        # runc's detached create hands its own stdio to the container; foreground `run`
        # replaces this with pipes or a pty (shim.supervisor.run).
        stdio=(0, 1, 2),
        console_fd=_console_fd(inv, terminal, detached),
        pid_file=os.path.abspath(pid_file) if pid_file else None,
        no_pivot=inv.flag_bool("no-pivot"),
        no_new_keyring=inv.flag_bool("no-new-keyring"),
        preserve_fds=inv.flag_int("preserve-fds"),
    )


def _load(bundle: str) -> tuple[Spec, str]:
    """config.json, read and checked once: the console-socket rules need process.terminal
    before create starts, and create then uses the same Spec."""
    from shim.runtime.create import load_bundle

    return load_bundle(bundle)


def _terminal(loaded: tuple[Spec, str]) -> bool:
    spec = loaded[0]
    return bool(spec.process and spec.process.terminal)


def cmd_create(inv: Invocation) -> int:
    from shim.runtime.create import create_container
    from shim.supervisor.reaper import Reaper

    bundle = os.path.abspath(inv.flag_str("bundle") or ".")
    loaded = _load(bundle)
    opts = _create_options(inv, _terminal(loaded), detached=True)
    opts.loaded = loaded
    try:
        create_container(_store(inv), inv.args[0], bundle, opts, Reaper())
    finally:
        if opts.console_fd is not None:
            os.close(opts.console_fd)
    return 0


def cmd_run(inv: Invocation) -> int:
    from shim.runtime.create import create_container
    from shim.runtime.start import start_container
    from shim.supervisor.reaper import Reaper
    from shim.supervisor.run import run_container

    bundle = os.path.abspath(inv.flag_str("bundle") or ".")
    detach = inv.flag_bool("detach")
    loaded = _load(bundle)
    terminal = _terminal(loaded)
    opts = _create_options(inv, terminal, detached=detach)
    opts.loaded = loaded
    store = _store(inv)
    if not detach:
        return run_container(
            store,
            inv.args[0],
            bundle,
            opts,
            terminal=terminal,
            keep=inv.flag_bool("keep"),
            no_subreaper=inv.flag_bool("no-subreaper"),
        )
    reaper = Reaper()
    try:
        create_container(store, inv.args[0], bundle, opts, reaper)
    finally:
        if opts.console_fd is not None:
            os.close(opts.console_fd)
    try:
        start_container(store, inv.args[0], reaper)
    except ShimError:
        from shim.runtime.delete import delete_container

        # runc destroys what run -d made
        delete_container(store, inv.args[0], reaper, force=True)
        raise
    return 0


def cmd_start(inv: Invocation) -> int:
    from shim.runtime.start import start_container
    from shim.supervisor.reaper import Reaper

    start_container(_store(inv), inv.args[0], Reaper())
    return 0


def cmd_state(inv: Invocation) -> int:
    from shim.json_codec import dumps
    from shim.runtime.query import container_state

    sys.stdout.write(dumps(container_state(_store(inv), inv.args[0]), indent=2))
    return 0


def cmd_list(inv: Invocation) -> int:
    from shim.json_codec import dumps
    from shim.runtime.query import format_table, list_containers

    fmt = inv.flag_str("format")
    if fmt not in ("table", "json"):
        raise ShimError("invalid format option")
    states, warnings = list_containers(_store(inv))
    for warning in warnings:
        sys.stderr.write(warning + "\n")
    if inv.flag_bool("quiet"):
        sys.stdout.write("".join(f"{s['id']}\n" for s in states))
    elif fmt == "json":
        sys.stdout.write((dumps(states) if states else "null") + "\n")
    else:
        sys.stdout.write(format_table(states))
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


def cmd_spec(inv: Invocation) -> int:
    from shim.spec import default_config

    bundle = inv.flag_str("bundle") or "."
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise ShimError("File config.json exists. Remove it first")
    if inv.flag_bool("busybox"):
        from shim.spec import busybox_bundle

        busybox_bundle(bundle, rootless=inv.flag_bool("rootless"))
        return 0
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except OSError as err:
        raise ShimError(f"open {path}: {(err.strerror or str(err)).lower()}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(default_config(inv.flag_bool("rootless")))
    return 0


def cmd_features(inv: Invocation) -> int:
    from shim.spec import features_json

    sys.stdout.buffer.write(features_json())
    return 0


COMMANDS: dict[str, Callable[[Invocation], int]] = {
    "create": cmd_create,
    "run": cmd_run,
    "start": cmd_start,
    "exec": cmd_exec,
    "state": cmd_state,
    "list": cmd_list,
    "kill": cmd_kill,
    "delete": cmd_delete,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "ps": cmd_ps,
    "update": cmd_update,
    "events": cmd_events,
    "spec": cmd_spec,
    "features": cmd_features,
    "checkpoint": cmd_checkpoint,
    "restore": cmd_restore,
}


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
    if inv.command in ("create", "run", "exec", "update", "checkpoint", "restore"):
        preload_msgspec()
    try:
        return COMMANDS[inv.command](inv)
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
        report_fatal(log, f"internal error: {type(err).__name__}: {err}")
        return 1
