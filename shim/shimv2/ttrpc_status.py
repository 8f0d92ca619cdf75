"""gRPC status codes on ttrpc, and how our errors become them.

A handler raises; the server answers with `status_of(err)`: a TtrpcError keeps its
code, a ShimError leaves with its class's `grpc_code` (shim/errors.py), anything
else is Unknown (2), as Go's ttrpc does for an untyped error.
"""

from __future__ import annotations

import enum

from shim.errors import ShimError


class Code(enum.IntEnum):
    OK = 0
    CANCELED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class TtrpcError(Exception):
    """A call answered with a non-OK status (raised by handlers, or by the client)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        try:
            name = Code(self.code).name
        except ValueError:
            name = str(self.code)
        return f"{name}: {self.message}"


def unimplemented(method: str) -> TtrpcError:
    """containerd reads code 12 as ErrNotImplemented and strips the `: not implemented` tail."""
    return TtrpcError(Code.UNIMPLEMENTED, f"{method} not implemented by pyshim: not implemented")


def status_of(err: BaseException) -> tuple[int, str]:
    """(code, message) for a handler's exception; a task group's group of one is its one."""
    while isinstance(err, BaseExceptionGroup) and len(err.exceptions) == 1:
        err = err.exceptions[0]
    if isinstance(err, TtrpcError):
        return err.code, err.message
    if isinstance(err, ShimError):
        return err.grpc_code, str(err)
    return Code.UNKNOWN, str(err) or type(err).__name__
