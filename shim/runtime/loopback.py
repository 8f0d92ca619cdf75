"""Bring up `lo` in another process's network namespace, as create does for a new one.

A socket belongs to the namespace it was made in: this thread enters the target
namespace only for the socket() call, then goes back; the ioctls run from here.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS = 0x8913, 0x8914
IFF_UP = 0x1
IFREQ = struct.Struct("16sH22x")  # ifr_name, ifr_flags, the rest of the union


def loopback_up(pid: int) -> None:
    """OSError if the namespace cannot be entered or `lo` cannot be set up."""
    from shim.sys import setns

    target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(target, CLONE_NEWNET)
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        finally:
            setns(own, CLONE_NEWNET)
    finally:
        os.close(target)
        os.close(own)
    with sock:
        raw = fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, IFREQ.pack(b"lo", 0))
        flags = IFREQ.unpack(raw)[1]
        if not flags & IFF_UP:
            fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, IFREQ.pack(b"lo", flags | IFF_UP))
