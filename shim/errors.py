"""Typed errors: each knows its runc exit code and its gRPC status code.

Only the shells translate: `cli.py` prints and exits with `exit_code`, the
containerd shim answers with `grpc_code`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # `typing` costs ~9 ms of start-up; mypy reads this as True
if TYPE_CHECKING:
    from typing import ClassVar


class ShimError(Exception):
    """Base of every error the runtime raises on purpose."""

    grpc_code: ClassVar[int] = 2  # Unknown
    exit_code: ClassVar[int] = 1  # runc exits 1 whatever went wrong


class UsageError(ShimError):
    """Bad command line: runc prints `Incorrect Usage` and exits 1."""

    grpc_code = 3

    def __init__(self, message: str, help_text: str = "") -> None:
        super().__init__(message)
        self.help_text = help_text


class UnknownCommand(ShimError):
    exit_code = 3
    grpc_code = 12  # Unimplemented


class InvalidArgument(ShimError):
    """A caller's argument is malformed (a flag, a request field, a stdio URI)."""

    grpc_code = 3


class InvalidConfig(InvalidArgument):
    """config.json (or a process.json) is malformed or asks for something invalid."""


class Unsupported(InvalidConfig):
    """A valid config field this runtime refuses explicitly rather than ignore."""

    grpc_code = 12  # Unimplemented


class NotFound(ShimError):
    grpc_code = 5


class AlreadyExists(ShimError):
    grpc_code = 6


class WrongState(ShimError):
    grpc_code = 9  # FailedPrecondition


class Unavailable(ShimError):
    """Something the operation needs is not there or not answering (a socket, a peer)."""

    grpc_code = 14


class Internal(ShimError):
    """The host or the kernel failed us where it should not (an unexpected errno, a corrupt
    state file): not the caller's fault, and not a state the caller could have avoided."""

    grpc_code = 13


class Cancelled(ShimError):
    """The caller gave up (an async cancel); whatever the operation made has been undone."""

    grpc_code = 1


class TimedOut(ShimError):
    """A deadline passed (a hook's timeout, a wait for a process or a freezer)."""

    grpc_code = 4  # DeadlineExceeded


class InitFailed(ShimError):
    """The init helper reported an error (or died) while building the container."""

    grpc_code = 13  # Internal

    def __init__(self, message: str, errno: int = 0, stage: int = 0) -> None:
        super().__init__(message)
        self.errno = errno
        self.stage = stage


class HookFailed(ShimError):
    grpc_code = 9


class CgroupError(ShimError):
    grpc_code = 13


class ExecFailed(ShimError):
    """`exec` failed on the runtime's side: runc exits 255 for these, not 1."""

    exit_code = 255


class CriuError(ShimError):
    """criu could not be run, or it reported a failure (runc: `criu failed: ...`);
    `detail` is criu's own message when it sent one (cr_errmsg)."""

    grpc_code = 13  # Internal

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class CriuTooOld(CriuError):
    """The criu binary answers, but it is older than checkpoint/restore need here."""

    grpc_code = 9  # FailedPrecondition


def os_error_text(err: BaseException) -> str:
    """An OSError in the runtime's words ("open /x: permission denied", Go's lower case),
    never Python's "[Errno 13] Permission denied: '/x'"; other errors as they print."""
    if not isinstance(err, OSError) or not err.strerror:
        return str(err)
    reason = (
        err.strerror[0].lower() + err.strerror[1:] if err.strerror[1:2].islower() else err.strerror
    )
    return f"{err.filename}: {reason}" if err.filename else reason
