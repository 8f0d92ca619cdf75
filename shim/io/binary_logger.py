"""containerd's `binary:///path?k=v` stdio: a logging program reads the process's output.

As the runc shim does (containerd pkg/process/io.go NewBinaryIO, spec section 9): the
program at the URI's path runs with argv built from the query (each key, then its value
if it has one), an environment of only CONTAINER_ID and CONTAINER_NAMESPACE, the read
ends of the process's stdout and stderr pipes as fds 3 and 4, and the write end of a
"ready" pipe as fd 5. It closes fd 5 when it is ready; the container is created only
after that. Nothing is pumped by us: the process writes into the logger's pipes. The
logger is not waited for: it ends on its own at end of file, and the supervisor's
reaper collects it as an orphan.
"""

from __future__ import annotations

import os
import urllib.parse

from shim.errors import InvalidArgument, Unavailable

READY_TIMEOUT = 10.0


def logger_argv(uri: str) -> list[str]:
    """[path, key, value, key, ...] from `binary:///path?key=value&flag`."""
    parts = urllib.parse.urlsplit(uri)
    path = urllib.parse.unquote(parts.path)
    if parts.scheme != "binary" or not path.startswith("/"):
        raise InvalidArgument(f"stdio {uri}: a binary:// URI needs an absolute path")
    argv = [path]
    for key, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        argv.append(key)
        if value:
            argv.append(value)
    return argv


class BinaryLogger:
    """The logging program, started on the read ends `stdout` and `stderr` (taken over:
    they are closed here once the program has its copies)."""

    def __init__(self, uri: str, stdout: int, stderr: int, env: dict[str, str]) -> None:
        argv = logger_argv(uri)
        for fd in (stdout, stderr):
            os.set_blocking(fd, True)  # a program expects blocking reads on what it is given
        ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        actions = [
            (os.POSIX_SPAWN_DUP2, null, 0),
            (os.POSIX_SPAWN_DUP2, null, 1),
            (os.POSIX_SPAWN_DUP2, null, 2),
            (os.POSIX_SPAWN_DUP2, stdout, 3),
            (os.POSIX_SPAWN_DUP2, stderr, 4),
            (os.POSIX_SPAWN_DUP2, ready_w, 5),
        ]
        try:
            self.pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True)
        except OSError as err:
            os.close(ready_r)
            reason = (err.strerror or str(err)).lower()
            raise InvalidArgument(f"start logging binary {argv[0]}: {reason}") from err
        finally:
            for fd in (stdout, stderr, ready_w, null):
                os.close(fd)
        self._ready = ready_r

    async def ready(self) -> None:
        """Until the program closed fd 5 (or wrote to it); Unavailable if it never does
        within READY_TIMEOUT seconds."""
        import anyio

        fd, self._ready = self._ready, -1
        try:
            with anyio.fail_after(READY_TIMEOUT):
                await anyio.wait_readable(fd)
            os.read(fd, 1)  # EOF, or its byte: either way it is ready
        except TimeoutError:
            raise Unavailable(
                f"logging binary {self.pid}: not ready after {READY_TIMEOUT} s"
            ) from None
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._ready >= 0:
            os.close(self._ready)
            self._ready = -1
