"""The runtimes under test: where each binary is, its private --root, and its containers.

The bench installs nothing: a runtime that is not there is an error that says how to
get it. Each runtime gets its own state root and ids no other runtime uses (cgroup
directories are named after ids), and cleanup deletes every container it made.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from bench import proc

DEFAULT_RUNTIMES = ("shim", "runc", "crun")
INSTALL_HINTS = {
    "shim": "scripts/setup.sh builds it into the venv",
    "runc": "apt-get install -y runc, or scripts/setup.sh",
    "crun": "apt-get install -y crun, or scripts/setup.sh",
}


def shim_binary() -> str | None:
    """Our `shim`: the venv's console script beside the interpreter, else the one on PATH."""
    beside = Path(sys.executable).with_name("shim")
    return str(beside) if beside.is_file() else shutil.which("shim")


def locate(name: str) -> str | None:
    """The absolute path of a runtime named on the command line (a name or a path)."""
    if "/" in name:
        return os.path.abspath(name) if os.access(name, os.X_OK) else None
    if name == "shim":
        return shim_binary()
    return shutil.which(name)


def missing(names: list[str]) -> list[str]:
    """One line per runtime that cannot be found, with how to install it."""
    return [
        f"{name}: not found ({INSTALL_HINTS.get(name, 'give its path')})"
        for name in names
        if locate(name) is None
    ]


class _StatePid(msgspec.Struct):
    pid: int


@dataclass
class Peer:
    """One runtime: `argv(...)` builds its command lines under its own --root."""

    name: str
    binary: str
    root: str
    live: set[str] = field(default_factory=set)  # ids that may still exist
    _serial: itertools.count[int] = field(default_factory=itertools.count)

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", self.root, *args]

    def new_id(self) -> str:
        cid = f"bench-{os.getpid()}-{self.name}-{next(self._serial)}"
        self.live.add(cid)
        return cid

    def delete(self, cid: str, *, force: bool = False) -> proc.Finished:
        done = proc.run(self.argv("delete", *(["--force"] if force else []), cid))
        self.live.discard(cid)
        return done

    def state(self, cid: str) -> tuple[proc.Finished, int]:
        """`state` of a container: how long it took, and the init's pid it reported."""
        done, out = proc.run_output(self.argv("state", cid))
        return done, msgspec.json.decode(out, type=_StatePid).pid

    def cleanup(self) -> list[str]:
        """Delete (force) every container this runtime may still have; the errors, if any."""
        errors = []
        on_disk = set(os.listdir(self.root)) if os.path.isdir(self.root) else set()
        for cid in sorted(self.live | on_disk):
            try:
                self.delete(cid, force=True)
            except proc.BenchError as err:
                errors.append(str(err))
        left = os.listdir(self.root) if os.path.isdir(self.root) else []
        if left:
            errors.append(f"{self.name}: containers left under {self.root}: {sorted(left)}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)
        return errors


def make_peers(names: list[str], workdir: str) -> list[Peer]:
    peers = []
    for name in names:
        binary = locate(name)
        if binary is None:
            raise proc.BenchError(f"{name}: not found")
        label = os.path.basename(name)
        root = os.path.join(workdir, f"root-{label}")
        os.mkdir(root, 0o700)
        peers.append(Peer(label, binary, root))
    return peers


def version(peer: Peer) -> str:
    """The first line of `--version` ("runc version 1.1.5+ds1")."""
    try:
        return proc.run_output([peer.binary, "--version"])[1].splitlines()[0].strip()
    except (proc.BenchError, IndexError):
        return "unknown"
