"""SCMP_ACT_NOTIFY: hand the filter's listener fd to the agent at `linux.seccomp.listenerPath`.

The OCI runtime spec's "container process state": one message on a unix stream
socket, the JSON below as data and the listener as SCM_RIGHTS, then close.
"""

from __future__ import annotations

import _socket

from shim import OCI_VERSION
from shim.errors import InitFailed
from shim.fdpass import rights
from shim.json_codec import dumps, loads


def send_listener(
    listener_path: str, metadata: str, fd: int, pid: int, oci_state_json: str
) -> None:
    message = {
        "ociVersion": OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": metadata,
        "state": loads(oci_state_json),
    }
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        try:
            sock.connect(listener_path)
        except OSError as err:  # runc's words, with Go's dial error
            reason = (err.strerror or str(err)).lower()
            raise InitFailed(
                "unable to start container process: failed to connect with seccomp agent "
                f"specified in the seccomp profile: dial unix {listener_path}: connect: {reason}"
            ) from None
        sock.sendmsg([dumps(message).encode()], rights([fd]))
    except OSError as err:
        reason = (err.strerror or str(err)).lower()
        raise InitFailed(f"send the seccomp listener to {listener_path}: {reason}") from None
    finally:
        sock.close()
