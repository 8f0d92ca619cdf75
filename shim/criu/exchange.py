"""One `criu swrk` conversation, sans-IO: the request out, each answer in, an event out.

    P    -> criu   criu_req(type T, opts)
    criu -> P      criu_resp(NOTIFY, notify={script, pid}) [+ fds]   -> Notification;
    P    -> criu   criu_req(NOTIFY, notify_success=true)                after the callback
    ...            (as many notifications as criu sends: pre-dump, post-dump,
                    setup-namespaces, post-restore, orphan-pts-master, ...)
    criu -> P      criu_resp(T, success=true, ...)                   -> Finished
    criu exits     (swrk serves one request per process)

A response with success=false, or of a type T does not end with, raises CriuError
with runc's text (`criu failed: type DUMP errno 0`) and criu's own message as detail.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from shim.criu import rpc_pb2 as rpc
from shim.errors import CriuError

# The answer that ends each request type (criu_resp.type == criu_req.type).
FINAL_TYPES = frozenset(
    {rpc.DUMP, rpc.PRE_DUMP, rpc.RESTORE, rpc.VERSION, rpc.FEATURE_CHECK, rpc.CHECK}
)


class Notification:
    """criu ran one of its action scripts' hooks; it waits for our answer."""

    __slots__ = ("fds", "pid", "script")

    def __init__(self, script: str, pid: int, fds: list[int]) -> None:
        self.script = script
        self.pid = pid  # the root task (setup-namespaces, post-restore), else 0
        self.fds = fds  # orphan-pts-master carries the pty master; the receiver closes


class Finished:
    __slots__ = ("response",)

    def __init__(self, response: rpc.criu_resp) -> None:
        self.response = response


def type_name(req_type: int) -> str:
    return rpc.criu_req_type.Name(req_type)


class Exchange:
    """The state of one request: encode it, then turn each datagram into an event."""

    __slots__ = ("done", "request")

    def __init__(self, request: rpc.criu_req) -> None:
        if request.type not in FINAL_TYPES:
            raise ValueError(f"criu request type {type_name(request.type)} is not served here")
        self.request = request
        self.done = False

    def encode(self) -> bytes:
        return self.request.SerializeToString()

    def receive(self, data: bytes, fds: list[int]) -> Notification | Finished:
        """Decode one datagram from criu. The caller owns `fds` (closes them on error)."""
        if self.done:
            raise CriuError("criu sent more after its final answer")
        if not data:
            raise CriuError("criu closed the connection without an answer (unexpected EOF)")
        resp = rpc.criu_resp()
        try:
            resp.ParseFromString(data)
        except DecodeError as err:  # also a missing required field
            raise CriuError(f"undecodable answer from criu: {err}") from None
        if not resp.success:
            raise CriuError(self._failure(resp), resp.cr_errmsg.strip())
        if resp.type == rpc.NOTIFY:
            if not resp.HasField("notify"):
                raise CriuError(f"invalid response: {resp}")
            return Notification(resp.notify.script, resp.notify.pid, fds)
        if resp.type != self.request.type:
            raise CriuError(f"unable to parse the response {resp}")
        self.done = True
        return Finished(resp)

    def _failure(self, resp: rpc.criu_resp) -> str:
        # runc 1.1 names the request type (its own text says NOTIFY after a notification,
        # which hides what failed; the request's type is what the user asked for).
        return f"criu failed: type {type_name(self.request.type)} errno {resp.cr_errno}"

    @staticmethod
    def acknowledge() -> bytes:
        """Our answer to a notification whose callback succeeded."""
        return rpc.criu_req(type=rpc.NOTIFY, notify_success=True).SerializeToString()
