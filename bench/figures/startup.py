"""Start-up cost of the light commands, and what shim's split needs: the module sets.

`kill` (SIGCONT to a running container) and `list` (one container under the root)
against every runtime; the other commands come from the lifecycle and exec figures.
`prepare` runs each of shim's commands once under `-X importtime` (through the
installed script, with its own flags) to learn what it imports, for bench/split.py.
"""

from __future__ import annotations

import os

from bench import proc
from bench.context import Context
from bench.figures.floor import PYTHON
from bench.figures.lifecycle import figure, interleaved
from bench.model import Figure
from bench.peers import Peer
from bench.split import Script, Splitter


def _modules(script: Script, args: list[str], workdir: str) -> tuple[list[str], int]:
    """What `shim ARGS` imported directly (not by another module's import), in order, and
    how many modules it imported in all. Importing just those reproduces the whole set as
    the command had it (children are listed before their parents, and some stdlib ones
    cannot go first: genericpath before os). stderr goes to a file: a container
    inherits it and would hold a pipe open."""
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
    names = [
        line.rsplit("|", 1)[1]
        for line in text.splitlines()
        if line.startswith("import time:") and "|" in line and "imported package" not in line
    ]
    top = [n.strip() for n in names if n.startswith(" ") and not n.startswith("  ")]
    return top, len(names)


def _module_sets(ctx: Context, shim: Peer, script: Script) -> dict[str, tuple[list[str], int]]:
    """One importtime run of each command, on containers made for it."""
    root = ["--root", shim.root]
    sleeper, pid = _start_sleeper(shim, ctx.bundles.sleep)
    try:
        sets = {"--version": _modules(script, ["--version"], ctx.workdir)}
        for cmd, args in (("state", [sleeper]), ("kill", [sleeper, "CONT"]), ("list", [])):
            sets[cmd] = _modules(script, [*root, cmd, *args], ctx.workdir)
        sets["exec"] = _modules(script, [*root, "exec", sleeper, "true"], ctx.workdir)
    finally:
        _stop(shim, sleeper, pid)
    cid = shim.new_id()
    create = [*root, "create", "--bundle", ctx.bundles.true, cid]
    sets["create"] = _modules(script, create, ctx.workdir)
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
    return sets


def prepare(ctx: Context) -> None:
    """ctx.split: with shim among the runtimes, the module set of each of its commands."""
    shim = next((p for p in ctx.peers if p.name == "shim"), None)
    if shim is None:
        ctx.split = Splitter(None, {}, {})
        return
    script = Script(shim.binary)
    sets = _module_sets(ctx, shim, script)
    ctx.split = Splitter(
        script,
        {cmd: top for cmd, (top, _) in sets.items()},
        {cmd: count for cmd, (_, count) in sets.items()},
    )


def _start_sleeper(peer: Peer, bundle: str) -> tuple[str, int]:
    cid = peer.new_id()
    proc.run(peer.argv("run", "--detach", "--bundle", bundle, cid))
    return cid, peer.state(cid)[1]


def _stop(peer: Peer, cid: str, pid: int) -> None:
    proc.run(peer.argv("kill", cid, "KILL"))
    peer.delete(cid, force=True)
    proc.wait_exit(pid)


def measure(ctx: Context) -> list[Figure]:
    """`kill` and `list` for every runtime, floor: the bare interpreter of the same rounds."""
    kill = figure(ctx, "kill", "`kill` (SIGCONT) of a running container", "ms", PYTHON)
    listing = figure(ctx, "list", "`list` (one container under the root)", "ms", PYTHON)
    peers = {p.name: p for p in ctx.peers}
    sleepers: dict[str, tuple[str, int]] = {}
    try:
        for name, peer in peers.items():
            sleepers[name] = _start_sleeper(peer, ctx.bundles.sleep)
        ctx.say(f"kill, list: {ctx.plan.startup_rounds} rounds")

        def one(name: str) -> dict[str, float]:
            cid = sleepers[name][0]
            return {
                "kill": proc.run(peers[name].argv("kill", cid, "CONT")).wall_ns / 1e6,
                "list": proc.run(peers[name].argv("list")).wall_ns / 1e6,
            }

        interleaved(ctx, ctx.plan.startup_rounds, {"kill": kill, "list": listing}, one)
    finally:
        for name, (cid, pid) in sleepers.items():
            _stop(peers[name], cid, pid)
    return [kill, listing]
