"""What the command-line verbs share: the state store from the global flags, the console socket."""

from __future__ import annotations

import os

from shim.errors import ShimError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cli.args import Invocation
    from shim.runtime.state_store import StateStore


def store_of(inv: Invocation) -> StateStore:
    from shim.runtime.state_store import StateStore

    if inv.global_bool("systemd-cgroup"):
        if os.path.isdir("/run/systemd/system"):
            raise ShimError(
                "--systemd-cgroup: the systemd cgroup driver is not supported; use cgroupfs"
            )
        raise ShimError("--systemd-cgroup: systemd is not running on this host")
    return StateStore(inv.global_str("root"))


def console_fd(inv: Invocation, terminal: bool, detached: bool) -> int | None:
    socket_path = inv.flag_str("console-socket")
    if terminal and detached and not socket_path:
        raise ShimError("cannot allocate tty if runc will detach without setting console socket")
    if socket_path and not (terminal and detached):
        raise ShimError("cannot use console socket if runc will not detach or allocate tty")
    if not socket_path:
        return None
    from shim.io.console import connect_console_socket

    return connect_console_socket(socket_path)
