"""runc's command line over the runtime library: parse, call, print, exit code. Nothing else.

Each verb imports what it needs when it runs: start-up time is a feature.
"""

from __future__ import annotations

import os
import sys

from shim import OCI_VERSION, __version__
from shim.cli_args import Invocation, help_text, parse_command, parse_globals
from shim.errors import ExecFailed, ShimError, UnknownCommand, Unsupported, UsageError
from shim.logs import Logger, get_logger, report_fatal, setup

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from shim.runtime.create import CreateOptions
    from shim.runtime.foreground import SignalForwarder
    from shim.runtime.state_store import StateStore

# Commands whose machinery lands with later work: refused clearly, never half-done.
NOT_YET = {
    "checkpoint": "checkpoint",
    "restore": "restore",
}
FAILED_PREFIX = {
    "create": "shim create failed: ",
    "run": "shim run failed: ",
    "exec": "exec failed: ",
}


def _store(inv: Invocation) -> StateStore:
    from shim.runtime.state_store import StateStore

    if inv.global_bool("systemd-cgroup"):
        if os.path.isdir("/run/systemd/system"):
            raise ShimError(
                "--systemd-cgroup: the systemd cgroup driver is not supported; use cgroupfs"
            )
        raise ShimError("--systemd-cgroup: systemd is not running on this host")
    return StateStore(inv.global_str("root"))


def _console_fd(inv: Invocation, terminal: bool, detached: bool) -> int | None:
    socket_path = inv.flag_str("console-socket")
    if terminal and detached and not socket_path:
        raise ShimError("cannot allocate tty if runc will detach without setting console socket")
    if socket_path and not (terminal and detached):
        raise ShimError("cannot use console socket if runc will not detach or allocate tty")
    if not socket_path:
        return None
    from shim.io.console import connect_console_socket

    return connect_console_socket(socket_path)


def _create_options(inv: Invocation, terminal: bool, detached: bool) -> CreateOptions:
    from shim.runtime.create import CreateOptions

    pid_file = inv.flag_str("pid-file")
    return CreateOptions(
        console_fd=_console_fd(inv, terminal, detached),
        pid_file=os.path.abspath(pid_file) if pid_file else None,
        no_pivot=inv.flag_bool("no-pivot"),
        no_new_keyring=inv.flag_bool("no-new-keyring"),
        preserve_fds=inv.flag_int("preserve-fds"),
    )


def _terminal(bundle: str) -> bool:
    """Peek at process.terminal before create, to check the console-socket rules."""
    from shim.runtime.create import load_bundle

    spec, _ = load_bundle(bundle)
    return bool(spec.process and spec.process.terminal)


def cmd_create(inv: Invocation) -> int:
    from shim.runtime.create import create_container

    bundle = os.path.abspath(inv.flag_str("bundle") or ".")
    opts = _create_options(inv, _terminal(bundle), detached=True)
    try:
        create_container(_store(inv), inv.args[0], bundle, opts)
    finally:
        if opts.console_fd is not None:
            os.close(opts.console_fd)
    return 0


def cmd_run(inv: Invocation) -> int:
    from shim.runtime.create import create_container
    from shim.runtime.run import run_container
    from shim.runtime.start import start_container

    bundle = os.path.abspath(inv.flag_str("bundle") or ".")
    detach = inv.flag_bool("detach")
    terminal = _terminal(bundle)
    opts = _create_options(inv, terminal, detached=detach)
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
    try:
        create_container(store, inv.args[0], bundle, opts)
    finally:
        if opts.console_fd is not None:
            os.close(opts.console_fd)
    start_container(store, inv.args[0])
    return 0


def cmd_exec(inv: Invocation) -> int:
    from shim.runtime.exec import ExecOptions, exec_process

    store = _store(inv)
    detach, tty = inv.flag_bool("detach"), inv.flag_bool("tty")
    process_file = inv.flag_str("process")
    for flag in ("process-label", "apparmor"):
        if inv.flag_str(flag):
            raise Unsupported(f"--{flag}: LSM labels are not supported by this runtime")
    if process_file and not tty:
        tty = _process_file_terminal(process_file)
    console_fd = _console_fd(inv, tty, detach)
    ours = None
    if tty and not detach:
        from shim.io.console import socket_pair

        ours, console_fd = socket_pair()
    forwarder = None
    if not detach:
        from shim.runtime.foreground import SignalForwarder

        forwarder = SignalForwarder()
        forwarder.install()  # before the process exists: early signals are held, then sent
    opts = ExecOptions(
        args=inv.args[1:],
        process_file=process_file,
        tty=tty,
        console_fd=console_fd,
        cwd=inv.flag_str("cwd"),
        env=inv.flag_list("env"),
        user=inv.flag_str("user"),
        additional_gids=inv.flag_ints("additional-gids"),
        caps=inv.flag_list("cap"),
        no_new_privs=inv.flag_bool("no-new-privs") if "no-new-privs" in inv.given else None,
        preserve_fds=inv.flag_int("preserve-fds"),
        cgroups=inv.flag_list("cgroup"),
        ignore_paused=inv.flag_bool("ignore-paused"),
    )
    try:
        pid = exec_process(store, inv.args[0], opts)
    finally:
        if console_fd is not None:
            os.close(console_fd)
    pid_file = inv.flag_str("pid-file")
    if pid_file:
        from shim.runtime.create import write_pid_file

        try:
            write_pid_file(os.path.abspath(pid_file), pid)
        except ShimError:
            os.kill(pid, 9)  # runc's rule: no pid file, no process
            os.waitpid(pid, 0)
            raise
    if forwarder is None:
        return 0
    return _foreground(pid, ours, forwarder)


def _process_file_terminal(path: str) -> bool:
    """A process.json decides on its own terminal (conmon passes --tty next to -p)."""
    try:
        with open(path, "rb") as f:
            from shim.json_codec import loads

            data = loads(f.read())
    except (OSError, ValueError):
        return False  # exec reports the real problem when it reads the file
    return isinstance(data, dict) and data.get("terminal") is True


def _foreground(pid: int, console: int | None, forwarder: SignalForwarder) -> int:
    """Forward signals to the process, pump its pty, exit with its status."""
    from shim.runtime.foreground import wait_for

    proxy = None
    if console is not None:
        from shim.io.console import PtyProxy, recv_master

        proxy = PtyProxy(recv_master(console))
        forwarder.watch_pty(proxy)
    try:
        forwarder.target(pid)
        return wait_for(pid, proxy)
    finally:
        forwarder.close()
        if proxy is not None:
            proxy.close()


def cmd_start(inv: Invocation) -> int:
    from shim.runtime.start import start_container

    start_container(_store(inv), inv.args[0])
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

    delete_container(_store(inv), inv.args[0], force=inv.flag_bool("force"))
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
    if inv.command in NOT_YET:
        raise ShimError(f"'{inv.command}' is not available in this version of shim")
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
