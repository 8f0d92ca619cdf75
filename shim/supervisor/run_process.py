"""A short-lived helper program run from a supervisor's process (containerd's publish
binary, say), through the process's one reaper.

anyio.run_process would wait for it with its own waitpid, racing the supervisor's
orphan reaper for the status (the rule: exactly one reaper). Here the child is spawned
while the reaper is held, adopted with a pidfd, and collected by the reaper.
"""

from __future__ import annotations

import os
import subprocess

import anyio

from shim.children import Exit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.children import ChildReaper


async def run_process(
    reaper: ChildReaper, argv: list[str], *, input: bytes = b""
) -> tuple[Exit, bytes]:
    """Run `argv` with `input` on its stdin (small: it must fit a pipe), stdout discarded;
    (its exit, its stderr). Bound it with a cancel scope: a cancel kills it."""
    with reaper.hold():  # nobody may reap it before it is adopted
        proc = subprocess.Popen(  # noqa: ASYNC220 - a fork and exec, no wait on the child
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        child = reaper.adopt(proc.pid)
    assert proc.stdin is not None
    assert proc.stderr is not None
    err_fd = proc.stderr.fileno()
    os.set_blocking(err_fd, False)
    stderr = b""
    try:
        try:
            if input:
                os.write(proc.stdin.fileno(), input)
        except BrokenPipeError:
            pass
        proc.stdin.close()
        while True:
            await anyio.wait_readable(err_fd)
            try:
                chunk = os.read(err_fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                break
            stderr += chunk
        exit_ = reaper.collect(child)
        while exit_ is None:
            await anyio.wait_readable(child.pidfd)
            exit_ = reaper.collect(child)
        return exit_, stderr
    finally:
        with anyio.CancelScope(shield=True):
            if child.exit is None and reaper.collect(child) is None:
                os.killpg(child.pid, 9)
                while reaper.collect(child) is None:
                    await anyio.wait_readable(child.pidfd)
        proc.returncode = child.exit.status if child.exit else -1  # Popen must not wait
        proc.stderr.close()
        reaper.release(child)
