"""Start-up cost of the one-shot commands, and where shim's time goes.

`kill` (SIGCONT to a running container) and `list` (one container under the root)
against every runtime, the other commands coming from the lifecycle figures; the
floor of the light commands is the bare interpreter, `python -c pass` of the venv
(what a Python runtime cannot go below, `site` included).

For shim it also measures, in the same rounds: the interpreter as the installed script
starts it (its own flags, -IS once `shim.launcher` made it lean) doing nothing, and
per command a process that only imports what that command imports (the modules
`-X importtime` lists for one real run of it). So a command's time splits into
interpreter, imports (that process minus the bare start) and work (the command minus
that process). Every such process leaves with `posix._exit`, as the script does.
"""

from __future__ import annotations

import os
import sys

from bench import proc
from bench.context import Context
from bench.figures.floor import PYTHON
from bench.figures.lifecycle import figure
from bench.model import Figure, Startup
from bench.peers import Peer
from bench.stats import rotated

COMMANDS = ("--version", "state", "kill", "list", "start", "delete", "create", "run", "exec")
_EXIT = "import posix\nposix._exit(0)\n"  # what the script does instead of a teardown


class Script:
    """The installed `shim` script: its interpreter, flags and path set-up."""

    def __init__(self, path: str) -> None:
        with open(path) as f:
            lines = f.read().splitlines()
        words = lines[0][2:].split() if lines and lines[0].startswith("#!") else []
        if not words:
            raise proc.BenchError(f"{path}: no #! line")
        self.path = path
        self.python, self.flags = words[0], words[1:]
        self.setup = "".join(f"{line}\n" for line in lines if "set by shim.launcher" in line)

    def argv(self, code: str, *extra: str) -> list[str]:
        return [self.python, *self.flags, *extra, "-c", f"import sys\n{self.setup}{code}"]


def _modules(script: Script, args: list[str], workdir: str) -> list[str]:
    """What `shim ARGS` imports, in import order (stderr goes to a file: a container
    inherits it and would hold a pipe open)."""
    err_path = os.path.join(workdir, "importtime.txt")
    argv = [script.python, *script.flags, "-X", "importtime", script.path, *args]
    out = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    try:
        with open(err_path, "w+b") as err:
            pid = proc.spawn(argv, stdout=out, stderr=err.fileno())
            proc.reap(pid, argv, err.fileno())
            err.seek(0)
            text = err.read().decode(errors="replace")
    finally:
        os.close(out)
    names = []
    for line in text.splitlines():
        if line.startswith("import time:") and "|" in line and "imported package" not in line:
            names.append(line.rsplit("|", 1)[1])
    return names


def _top_level(names: list[str]) -> list[str]:
    """The modules imported directly (not by another module's import), in order: importing
    just these reproduces the whole set in the order the command had (children are listed
    before their parents, and some stdlib ones cannot go first: genericpath before os)."""
    return [n.strip() for n in names if n.startswith(" ") and not n.startswith("  ")]


def _module_sets(ctx: Context, shim: Peer, script: Script, sleeper: str) -> dict[str, list[str]]:
    """One importtime run of each command, on containers made for it."""
    root = ["--root", shim.root]
    sets = {"--version": _modules(script, ["--version"], ctx.workdir)}
    for cmd, args in (("state", [sleeper]), ("kill", [sleeper, "CONT"]), ("list", [])):
        sets[cmd] = _modules(script, [*root, cmd, *args], ctx.workdir)
    cid = shim.new_id()
    sets["create"] = _modules(
        script, [*root, "create", "--bundle", ctx.bundles.true, cid], ctx.workdir
    )
    pid = shim.state(cid)[1]
    sets["start"] = _modules(script, [*root, "start", cid], ctx.workdir)
    proc.wait_exit(pid)
    sets["delete"] = _modules(script, [*root, "delete", cid], ctx.workdir)
    shim.live.discard(cid)
    run_id = shim.new_id()
    sets["run"] = _modules(
        script, [*root, "run", "--bundle", ctx.bundles.true, run_id], ctx.workdir
    )
    shim.live.discard(run_id)
    sets["exec"] = _modules(script, [*root, "exec", sleeper, "true"], ctx.workdir)
    return sets


def _start_sleeper(peer: Peer, bundle: str) -> tuple[str, int]:
    cid = peer.new_id()
    proc.run(peer.argv("run", "--detach", "--bundle", bundle, cid))
    return cid, peer.state(cid)[1]


def _stop(peer: Peer, cid: str, pid: int) -> None:
    proc.run(peer.argv("kill", cid, "KILL"))
    peer.delete(cid, force=True)
    proc.wait_exit(pid)


def measure(ctx: Context) -> tuple[list[Figure], Startup | None]:
    """`kill` and `list` for every runtime (floor: the bare interpreter), and shim's
    start-up split, all interleaved in one set of rounds."""
    bare = [sys.executable, "-c", "pass"]
    kill = figure(ctx, "kill", "`kill` (SIGCONT) of a running container", "ms", PYTHON)
    listing = figure(ctx, "list", "`list` (one container under the root)", "ms", PYTHON)
    peers = {p.name: p for p in ctx.peers}
    sleepers: dict[str, tuple[str, int]] = {}
    startup = None
    try:
        for name, peer in peers.items():
            sleepers[name] = _start_sleeper(peer, ctx.bundles.sleep)
        script = Script(peers["shim"].binary) if "shim" in peers else None
        imports: dict[str, list[str]] = {}
        if script is not None:
            imports = _module_sets(ctx, peers["shim"], script, sleepers["shim"][0])
            startup = Startup(
                interpreter=" ".join([script.python, *script.flags]),
                lean=[],
                imports={cmd: [] for cmd in imports},
                modules={cmd: len(names) for cmd, names in imports.items()},
            )
        jobs: dict[str, list[str]] = {PYTHON: bare}
        for name, peer in peers.items():
            jobs[f"kill {name}"] = peer.argv("kill", sleepers[name][0], "CONT")
            jobs[f"list {name}"] = peer.argv("list")
        if script is not None and startup is not None:
            jobs["lean"] = script.argv(_EXIT)
            for cmd, names in imports.items():
                code = "".join(f"import {n}\n" for n in _top_level(names)) + _EXIT
                jobs[f"imports {cmd}"] = script.argv(code)
        ctx.say(f"start-up: {ctx.plan.startup_rounds} rounds of {len(jobs)} commands")
        floor: list[float] = []
        for turn in range(ctx.plan.startup_rounds):
            for job in rotated(list(jobs), turn):
                ms = proc.run(jobs[job]).wall_ns / 1e6
                kind, _, who = job.partition(" ")
                if job == PYTHON:
                    floor.append(ms)
                elif kind == "kill":
                    kill.samples[who].append(ms)
                elif kind == "list":
                    listing.samples[who].append(ms)
                elif startup is not None and job == "lean":
                    startup.lean.append(ms)
                elif startup is not None:
                    startup.imports[who].append(ms)
        ctx.floors[PYTHON] = floor
        for fig in (kill, listing):
            fig.floor = list(floor)
    finally:
        for name, (cid, pid) in sleepers.items():
            _stop(peers[name], cid, pid)
    return [kill, listing], startup
