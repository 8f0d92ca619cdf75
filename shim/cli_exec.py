"""`shim exec`: the verb, and its foreground half (signals, pty, exit status)."""

from __future__ import annotations

import os

from shim.cli_common import console_fd as _console_fd
from shim.cli_common import store_of as _store
from shim.errors import ShimError, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cli_args import Invocation
    from shim.supervisor.foreground import SignalForwarder


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
        from shim.supervisor.foreground import SignalForwarder

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
    from shim.supervisor.foreground import wait_for

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
