"""File descriptors over unix sockets (SCM_RIGHTS): the ancillary item that sends them,
and the descriptors a recvmsg brought.

    sock.sendmsg([data], rights([fd1, fd2]))
    data, anc, flags, _ = sock.recvmsg(n, _socket.CMSG_SPACE(4 * MAX), _socket.MSG_CMSG_CLOEXEC)
    fds = received_fds(anc)   # the caller owns (and closes) them
"""

from __future__ import annotations

import _socket
import struct


def rights(fds: list[int]) -> list[tuple[int, int, bytes]]:
    """sendmsg's ancillary data passing `fds`; no item at all for none."""
    if not fds:
        return []
    return [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))]


def received_fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """Every descriptor in recvmsg's ancillary data (a truncated tail is ignored)."""
    return [
        fd
        for level, kind, raw in ancillary
        if (level, kind) == (_socket.SOL_SOCKET, _socket.SCM_RIGHTS)
        for fd in struct.unpack(f"{len(raw) // 4}i", raw[: len(raw) - len(raw) % 4])
    ]
