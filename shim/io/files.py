"""Log files as stdio destinations: containerd's `file:///path`, or a path that is no fifo."""

from __future__ import annotations

import os

from shim.errors import InvalidArgument


def open_append(path: str, create: bool = True) -> int:
    """Open `path` for appending (O_WRONLY|O_APPEND|O_CLOEXEC), as the runc shim does.

    With `create`, missing parent directories (0755) and the file (0644) are made.
    Raises ShimError `open PATH: <reason>`. splice(2) refuses O_APPEND destinations,
    so a pump writes such a file with write(2); a regular file never makes it wait.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
    try:
        if create:
            os.makedirs(os.path.dirname(path) or ".", 0o755, exist_ok=True)
            flags |= os.O_CREAT
        return os.open(path, flags, 0o644)
    except OSError as err:
        reason = os.strerror(err.errno).lower() if err.errno else str(err)
        raise InvalidArgument(f"open {path}: {reason}") from err
