"""SO_PEERCRED: who is on the other end of a unix socket.

runc's shim serves only peers with its own uid and gid (ttrpc's
UnixSocketRequireSameUser): the socket path is guessable, a hash of public names.
"""

from __future__ import annotations

import os
import socket
import struct

_UCRED = struct.Struct("3i")  # pid, uid, gid


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the peer. Raises OSError."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return pid, uid, gid


def check_same_user(sock: socket.socket) -> str | None:
    """None if the peer runs as our uid and gid, else why it may not talk to us."""
    try:
        pid, uid, gid = peer_credentials(sock)
    except OSError as err:
        return f"failed to retrieve socket peer credentials: {err}"
    if uid != os.getuid() or gid != os.getgid():
        return f"ttrpc: invalid credentials: peer pid {pid} uid {uid} gid {gid}"
    return None
