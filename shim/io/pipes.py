"""A process's stdin, stdout and stderr as pipes: the ends the child gets and the ends we keep.

Every fd here is O_CLOEXEC. The spawner hands the child ends over by dup2 onto
0, 1 and 2 (dup2 clears close-on-exec on the copy only), then calls
`close_child_ends()`: our copies of the child ends must go, or the output pipes
never reach end of file. The ends we keep are O_NONBLOCK (a pump waits on them
with anyio); the child ends stay blocking, as a program expects of its stdio.
"""

from __future__ import annotations

import fcntl
import os

from shim.io.fds import close_fd, set_nonblocking


class Pipe:
    """One pipe: `read` and `write` ends (an end is -1 once closed)."""

    __slots__ = ("read", "write")

    def __init__(self, read: int, write: int) -> None:
        self.read, self.write = read, write

    def take_read(self) -> int:
        """Hand the read end to a new owner (a pump that closes it); -1 here from now on."""
        fd, self.read = self.read, -1
        return fd

    def take_write(self) -> int:
        """Hand the write end to a new owner; -1 here from now on."""
        fd, self.write = self.write, -1
        return fd

    def close_read(self) -> None:
        if self.read >= 0:
            fd, self.read = self.read, -1
            close_fd(fd)

    def close_write(self) -> None:
        if self.write >= 0:
            fd, self.write = self.write, -1
            close_fd(fd)

    def close(self) -> None:
        self.close_read()
        self.close_write()


def make_pipe(size: int | None = None) -> Pipe:
    """pipe2(O_CLOEXEC); `size` asks for that capacity (F_SETPIPE_SZ, best effort)."""
    r, w = os.pipe2(os.O_CLOEXEC)
    if size is not None:
        try:
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, size)
        except OSError:  # EPERM past pipe-user-pages-soft: the default 64 KiB still works
            pass
    return Pipe(r, w)


def _chown(fd: int, owner: tuple[int, int] | None) -> None:
    # containerd's io_uid/io_gid: a non-root container user may reopen /proc/self/fd/N
    if owner is not None:
        os.fchown(fd, *owner)


class StdioPipes:
    """Pipes for whichever of stdin/stdout/stderr are wanted; /dev/null for the others.

    `stdin`, `stdout`, `stderr`: our ends (the write end of stdin, the read ends of the
    outputs), or -1 when that stream is not a pipe. `child`: the three fds for the
    child's 0, 1 and 2.
    """

    def __init__(
        self,
        *,
        stdin: bool = True,
        stdout: bool = True,
        stderr: bool = True,
        owner: tuple[int, int] | None = None,
        size: int | None = None,
    ) -> None:
        self._devnull = -1
        self._pipes: list[Pipe | None] = []
        try:
            for i, wanted in enumerate((stdin, stdout, stderr)):
                pipe = make_pipe(size) if wanted else None
                self._pipes.append(pipe)
                if pipe is None:
                    self._null()
                    continue
                ours, theirs = (pipe.write, pipe.read) if i == 0 else (pipe.read, pipe.write)
                _chown(theirs, owner)
                set_nonblocking(ours)
        except BaseException:
            self.close()
            raise

    @property
    def child(self) -> tuple[int, int, int]:
        """The fds for the child's 0, 1, 2 (-1 once `close_child_ends` has run)."""
        ends = [
            self._devnull if p is None else (p.read if i == 0 else p.write)
            for i, p in enumerate(self._pipes)
        ]
        return (ends[0], ends[1], ends[2])

    def _null(self) -> int:
        if self._devnull < 0:
            self._devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        return self._devnull

    def _ours(self, i: int) -> int:
        pipe = self._pipes[i]
        if pipe is None:
            return -1
        return pipe.write if i == 0 else pipe.read

    @property
    def stdin(self) -> int:
        return self._ours(0)

    @property
    def stdout(self) -> int:
        return self._ours(1)

    @property
    def stderr(self) -> int:
        return self._ours(2)

    def take(self, i: int) -> int:
        """Hand our end of stream `i` (0, 1, 2) to a new owner, e.g. a pump that closes it."""
        pipe = self._pipes[i]
        if pipe is None:
            return -1
        return pipe.take_write() if i == 0 else pipe.take_read()

    def close_child_ends(self) -> None:
        """After the spawn: only the child may hold its ends now."""
        for i, pipe in enumerate(self._pipes):
            if pipe is not None and i == 0:
                pipe.close_read()
            elif pipe is not None:
                pipe.close_write()
        if self._devnull >= 0:
            os.close(self._devnull)
            self._devnull = -1

    def close_stdin(self) -> None:
        """Close our write end of stdin: the process reads end of file (CloseIO)."""
        pipe = self._pipes[0] if self._pipes else None
        if pipe is not None:
            pipe.close_write()

    def close(self) -> None:
        """Close every end still held, ours and the child's."""
        for pipe in self._pipes:
            if pipe is not None:
                pipe.close()
        if self._devnull >= 0:
            os.close(self._devnull)
            self._devnull = -1
