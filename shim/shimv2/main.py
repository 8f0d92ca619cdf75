"""`containerd-shim-pyshim-v1`: the shim binary of containerd runtime `io.containerd.pyshim.v1`.

Actions: `start` (print the socket address, detach the daemon), `delete` (clean up,
print a DeleteResponse), none (the daemon). `-v` prints the version. Each branch
imports only what it needs: `start` runs for every new container.
"""

from __future__ import annotations

import os
import sys

from shim.shimv2.flags import FlagError, Flags, parse, usage

NAME = "containerd-shim-pyshim-v1"


def _version() -> str:
    from shim import __version__

    py = ".".join(str(n) for n in sys.version_info[:3])
    return f"{NAME}:\n  Version:  {__version__}\n  Revision: (none)\n  Python version: {py}\n"


def _write(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _start(flags: Flags) -> int:
    from shim.shimv2.options_wire import OptionsError
    from shim.shimv2.start import StartError, start

    try:
        address = start(flags)
    except (StartError, OptionsError, ValueError) as err:
        _write(2, f"{NAME} start: {err}\n".encode())
        return 1
    _write(1, address.encode())
    return 0


def _log_fifo(flags: Flags) -> None:
    """The daemon's stderr becomes the bundle's `log` fifo, non-blocking (never stall on it)."""
    from shim.io.log_sinks import open_log_fifo

    path = os.path.join(flags.bundle or os.getcwd(), "log")
    try:
        writer = open_log_fifo(path)
    except Exception:  # no fifo (a manual run): keep stderr
        return
    os.dup2(writer.fileno(), 2)  # the dup shares O_NONBLOCK; Logger drops on EAGAIN
    writer.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["-zygote"] and len(args) == 2:  # our own fork server (zygote.py)
        from shim.shimv2.zygote import serve

        return serve(args[1])
    try:
        flags = parse(args)
    except FlagError as err:
        if str(err) == "help requested":
            _write(2, usage(NAME).encode())
            return 0
        _write(2, f"{err}\n{usage(NAME)}".encode())
        return 2
    if flags.version:
        _write(1, _version().encode())
        return 0
    if flags.info:
        _write(
            2, f"{NAME}: -info is not supported (containerd 2.x runtime introspection)\n".encode()
        )
        return 1
    if flags.action == "start":
        return _start(flags)
    level = "debug" if flags.debug else "info"
    if flags.action == "delete":
        from shim.logs import Logger
        from shim.shimv2.delete import delete

        response = delete(flags, Logger(2, "text", level, False))
        _write(1, response)
        return 0
    from shim.logs import setup
    from shim.shimv2.daemon import run_daemon

    # Only 0-3 are ours: whatever else start's caller let through must not pin pipes open.
    os.closerange(4, 1 << 16)
    _log_fifo(flags)
    return run_daemon(flags, setup(None, "text", flags.debug))  # get_logger() returns it too
