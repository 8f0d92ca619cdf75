"""Pseudo-terminal pairs and their window size (containerd's ResizePty).

A container's pty is made inside the container (the helper opens its /dev/ptmx)
and its master reaches us over the console socket; `open_pty` is for the
shim's own uses and for tests. Reading a master whose slave side is all closed
fails with EIO: a pump takes that as end of file.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios

from shim.errors import Internal
from shim.io.fds import close_fd

_WINSIZE = struct.Struct("HHHH")  # struct winsize: ws_row, ws_col, ws_xpixel, ws_ypixel


class PtyPair:
    """A master and its slave, both O_CLOEXEC (an end is -1 once closed)."""

    __slots__ = ("master", "slave")

    def __init__(self, master: int, slave: int) -> None:
        self.master, self.slave = master, slave

    @property
    def name(self) -> str:
        """The slave's path, e.g. /dev/pts/3 (what runc sends over the console socket)."""
        return os.ttyname(self.slave)

    def take_master(self) -> int:
        """Hand the master to a new owner (e.g. ProcessIO.attach_console); -1 here from now on."""
        fd, self.master = self.master, -1
        return fd

    def close_slave(self) -> None:
        """After the spawn: the child holds the slave now."""
        if self.slave >= 0:
            fd, self.slave = self.slave, -1
            os.close(fd)

    def close(self) -> None:
        self.close_slave()
        if self.master >= 0:
            fd, self.master = self.master, -1
            close_fd(fd)


def open_pty(width: int = 0, height: int = 0) -> PtyPair:
    """A new pty pair (os.openpty: both ends close-on-exec); a size if width and height > 0."""
    master, slave = os.openpty()
    if width and height:
        resize(master, width, height)
    return PtyPair(master, slave)


def resize(master_fd: int, width: int, height: int) -> None:
    """TIOCSWINSZ: ws_col = width, ws_row = height (containerd's ResizePty, uint32 each).

    Values wider than the kernel's 16 bits are truncated as runc's `uint16()` does.
    The foreground process group gets SIGWINCH from the kernel when the size changes.
    Raises ShimError `resize pty: <reason>`.
    """
    size = _WINSIZE.pack(height & 0xFFFF, width & 0xFFFF, 0, 0)
    try:
        fcntl.ioctl(master_fd, termios.TIOCSWINSZ, size)
    except OSError as err:
        reason = os.strerror(err.errno).lower() if err.errno else str(err)
        raise Internal(f"resize pty: {reason}") from err


def window_size(fd: int) -> tuple[int, int]:
    """TIOCGWINSZ on either end: (width, height), i.e. (ws_col, ws_row)."""
    rows, cols, _, _ = _WINSIZE.unpack(fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(_WINSIZE.size)))
    return cols, rows
