"""A host whose "/" has copies of itself stacked on it (issue 16), made without touching
the host: `mount --rbind / /` in a private mount namespace.

`StackedRoot` holds that namespace open with a sleeping process. `prefix()` runs a command
in it the way a process that was already running when the binds were made sees it: its
root at the bottom of the stack (`nsenter --root`: the holder's root). That is the case
that broke: the root switch detached only the topmost copy, so the rest stayed stacked on
the container's root, where `setns` (exec) and ".." from "/" land. `prefix(at_top=True)`
gives the other case, a process that entered by setns and so starts on the topmost copy.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import uuid
from pathlib import Path

from tests.conftest import TIMEOUT, Shim


class StackedRoot:
    """A private mount namespace whose "/" has `depth` rbinds of itself on top (each
    doubles the mounts on "/": 8 of them for depth 3 on a host that had one)."""

    def __init__(self, depth: int = 3) -> None:
        self.depth = depth
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> StackedRoot:
        count = "$(awk '$5 == \"/\"' /proc/self/mountinfo | wc -l)"
        script = (
            f"before={count}; for i in $(seq {self.depth}); do mount --rbind / / || exit 1; done; "
            f"echo ready $before {count}; exec sleep 3600"
        )
        self.proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], TIMEOUT)
        line = self.proc.stdout.readline().decode() if ready else ""
        words = line.split()  # "ready BEFORE AFTER": each rbind doubles what is on "/"
        if len(words) != 3 or words[0] != "ready" or int(words[2]) != int(words[1]) << self.depth:
            self.__exit__()
            raise AssertionError(f"could not stack / {self.depth} times: {line!r}")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(TIMEOUT)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def prefix(self, at_top: bool = False) -> list[str]:
        """argv prefix: run in the stacked namespace (root at the bottom, or on top)."""
        where = ["--wd=/"] if at_top else ["--root", "--wd=/"]
        return ["nsenter", f"--target={self.pid}", "--mount", *where]


def root_listing(pid: int) -> list[str]:
    """What `ls /` shows to process `pid`, read from the host through its root."""
    return sorted(os.listdir(f"/proc/{pid}/root"))


def assert_exec_lands_in_container(shim: Shim, cid: str) -> None:
    """`exec` must run in the container's root and not on a host root stacked over it:
    pid 1 is the container's init (its comm as the host reads it), a marker only the
    rootfs holds is there, and `/..` is `/`. Without this a probe that reads /proc/1 or
    writes a file could pass by looking at the host instead."""
    state = shim.state(cid)
    pid, rootfs = state["pid"], Path(str(state["rootfs"]))
    assert isinstance(pid, int)
    marker = f".inside-{uuid.uuid4().hex[:8]}"
    (rootfs / marker).write_text("")
    try:
        res = shim("exec", cid, "sh", "-c", f"cat /proc/1/comm; test -e /{marker} && ls -a /..")
        assert res.code == 0, f"exec landed outside the container: {res}"
        comm, *dotdot = res.out.split()
        assert comm == Path(f"/proc/{pid}/comm").read_text().strip(), res
        assert sorted(n for n in dotdot if n not in (".", "..")) == sorted(os.listdir(rootfs))
    finally:
        (rootfs / marker).unlink()
