"""`shim exec`: the verb, and its foreground half (signals, pty, exit status)."""

from __future__ import annotations

import os

from shim.cgroups.prime import prime_cgroup_migration
from shim.cli.common import console_fd as _console_fd
from shim.cli.common import store_of as _store
from shim.errors import ShimError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.children import Child
    from shim.cli.args import Invocation
    from shim.supervisor.reaper import Reaper


def cmd_exec(inv: Invocation) -> int:
    prime_cgroup_migration()  # before the imports: the kernel's wait overlaps them
    from shim.runtime.exec import ExecOptions, exec_process
    from shim.supervisor.reaper import Reaper

    store = _store(inv)
    detach, tty = inv.flag_bool("detach"), inv.flag_bool("tty")
    process_file = inv.flag_str("process")
    if process_file and not tty:
        tty = _process_file_terminal(process_file)
    console_fd = _console_fd(inv, tty, detach)
    reaper = Reaper()
    foreground = None if detach else Foreground(tty)
    if foreground is not None and tty:
        console_fd = foreground.console_theirs
    opts = ExecOptions(
        args=inv.args[1:],
        process_file=process_file,
        tty=tty,
        console_fd=console_fd,
        # detached, the process gets our stdio as runc's does; in the foreground, pipes
        stdio=foreground.child_stdio if foreground is not None else (0, 1, 2),
        cwd=inv.flag_str("cwd"),
        env=inv.flag_list("env"),
        user=inv.flag_str("user"),
        additional_gids=inv.flag_ints("additional-gids"),
        caps=inv.flag_list("cap"),
        no_new_privs=inv.flag_bool("no-new-privs") if "no-new-privs" in inv.given else None,
        preserve_fds=inv.flag_int("preserve-fds"),
        cgroups=inv.flag_list("cgroup"),
        ignore_paused=inv.flag_bool("ignore-paused"),
        apparmor=inv.flag_str("apparmor"),
        process_label=inv.flag_str("process-label"),
    )
    try:
        try:
            child = exec_process(store, inv.args[0], opts, reaper)
        finally:
            if console_fd is not None:
                os.close(console_fd)
            if foreground is not None:
                foreground.spawned()
        pid_file = inv.flag_str("pid-file")
        if pid_file:
            from shim.runtime.create import write_pid_file

            try:
                write_pid_file(os.path.abspath(pid_file), child.pid)
            except ShimError:
                import _signal

                _signal.pidfd_send_signal(child.pidfd, _signal.SIGKILL)
                reaper.wait(child)  # runc's rule: no pid file, no process
                raise
        if foreground is None:
            return 0
        return foreground.wait(reaper, child)
    finally:
        if foreground is not None:
            foreground.close()


class Foreground:
    """exec without --detach: signals forwarded from before the process exists, stdio
    through pipes (or a pty) relayed to ours, the exit status ours."""

    def __init__(self, tty: bool) -> None:
        from shim.supervisor.foreground import SignalForwarder
        from shim.supervisor.relay import Relay

        self.forwarder = SignalForwarder()
        self.forwarder.install()  # before the process exists: early signals are held
        self.relay: Relay | None = None
        self.console_ours = -1
        self.console_theirs: int | None = None
        self.child_stdio: tuple[int, int, int] | None = None
        if tty:
            from shim.io.console import socket_pair

            self.console_ours, self.console_theirs = socket_pair()
        else:
            self.relay, self.child_stdio = Relay.with_pipes()

    def spawned(self) -> None:
        """The helper has its copies: close the process's ends here."""
        if self.child_stdio is not None:
            from shim.supervisor.relay import close_child_ends

            close_child_ends(self.child_stdio)
            self.child_stdio = None

    def wait(self, reaper: Reaper, child: Child) -> int:
        from shim.supervisor.foreground import wait_foreground
        from shim.supervisor.relay import Relay

        if self.console_ours >= 0:
            from shim.io.console import recv_master

            master, self.console_ours = recv_master(self.console_ours), -1  # closes the socket
            self.relay = Relay.with_console(master)
            self.forwarder.on_winch = self.relay.resize
        assert self.relay is not None
        self.forwarder.target(child)
        exit_ = wait_foreground(reaper, child, self.relay, self.forwarder, reap_orphans=False)
        self.relay.drain()
        reaper.release(child)
        return exit_.status

    def close(self) -> None:
        self.spawned()
        self.forwarder.close()
        if self.relay is not None:
            self.relay.close()
        if self.console_ours >= 0:
            os.close(self.console_ours)
            self.console_ours = -1


def _process_file_terminal(path: str) -> bool:
    """A process.json decides on its own terminal (conmon passes --tty next to -p)."""
    try:
        with open(path, "rb") as f:
            from shim.json_codec import loads

            data = loads(f.read())
    except (OSError, ValueError):
        return False  # exec reports the real problem when it reads the file
    return isinstance(data, dict) and data.get("terminal") is True
