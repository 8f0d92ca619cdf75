"""Latency of one container's life, phase by phase.

`run` of `true` in the foreground; then a cycle of create, state, start, wait for
the exit, delete; and `--version`, the bare start-up cost. Memory is in memory.py.
Each round also runs bench/split.py's processes for the commands it times.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from bench import proc
from bench.context import Context
from bench.figures.floor import CONTAINER, PYTHON
from bench.model import Figure
from bench.peers import Peer
from bench.stats import rotated


def _by_name(ctx: Context) -> dict[str, Peer]:
    return {peer.name: peer for peer in ctx.peers}


def figure(ctx: Context, key: str, title: str, unit: str, floor: str | None = None) -> Figure:
    """An empty figure with a row per runtime and, if named, the floor's samples."""
    return Figure(
        key=key,
        title=title,
        unit=unit,
        samples={peer.name: [] for peer in ctx.peers},
        floor_name=floor,
        floor=list(ctx.floors.get(floor, [])) if floor else [],
    )


COMMAND_OF = {"version": "--version"}  # figure key -> shim's command, where they differ


def interleaved(
    ctx: Context,
    rounds: int,
    figs: dict[str, Figure],
    one: Callable[[str], dict[str, float]],
    names: Sequence[str] | None = None,
) -> None:
    """`rounds` rounds of `one(runtime)` (ms by figure key) for every runtime in `names`
    (default: all), with the split's processes for those commands, in the round's rotated
    order. A figure on the PYTHON floor gets the bare interpreter of these same rounds."""
    commands = [COMMAND_OF.get(key, key) for key in figs if key != "cycle"]
    split = ctx.split
    jobs = split.jobs(commands) if split is not None else {}
    runtimes = list(names) if names is not None else [p.name for p in ctx.peers]
    for turn in range(rounds):
        for item in rotated([*runtimes, *jobs], turn):
            if item in runtimes:
                for key, value in one(item).items():
                    figs[key].samples[item].append(value)
            elif split is not None:
                split.record(commands, item, proc.run(jobs[item]).wall_ns / 1e6)
    for key, fig in figs.items():
        if fig.floor_name == PYTHON and split is not None:
            fig.floor = list(split.bare.get(COMMAND_OF.get(key, key), []))


def measure_run(ctx: Context) -> Figure:
    fig = figure(ctx, "run", "`run` of busybox `true` in the foreground", "ms", CONTAINER)
    ctx.say(f"run: {ctx.plan.run_rounds} rounds")
    peers = _by_name(ctx)

    def one(name: str) -> dict[str, float]:
        peer = peers[name]
        cid = peer.new_id()
        done = proc.run(peer.argv("run", "--bundle", ctx.bundles.true, cid))
        peer.live.discard(cid)  # run deletes what it made
        return {"run": done.wall_ns / 1e6}

    interleaved(ctx, ctx.plan.run_rounds, {"run": fig}, one)
    return fig


def _cycle(peer: Peer, bundle: str, workdir: str) -> dict[str, float]:
    """One create/state/start/wait/delete; ms per phase."""
    cid = peer.new_id()
    pid_file = os.path.join(workdir, f"{cid}.pid")
    created = proc.run(peer.argv("create", "--bundle", bundle, "--pid-file", pid_file, cid))
    os.unlink(pid_file)
    stated, pid = peer.state(cid)
    started = proc.run(peer.argv("start", cid))
    proc.wait_exit(pid)
    deleted = peer.delete(cid)
    phases = {
        "create": created.wall_ns / 1e6,
        "state": stated.wall_ns / 1e6,
        "start": started.wall_ns / 1e6,
        "delete": deleted.wall_ns / 1e6,
    }
    phases["cycle"] = phases["create"] + phases["start"] + phases["delete"]
    return phases


def measure_cycle(ctx: Context) -> list[Figure]:
    figs = {
        "create": figure(ctx, "create", "`create` (busybox `true`)", "ms", CONTAINER),
        "state": figure(ctx, "state", "`state` of a created container", "ms", PYTHON),
        "start": figure(ctx, "start", "`start`", "ms", PYTHON),
        "delete": figure(ctx, "delete", "`delete` of the stopped container", "ms", PYTHON),
        "cycle": figure(ctx, "cycle", "create + start + delete (sum per cycle)", "ms", CONTAINER),
    }
    ctx.say(f"create/state/start/delete: {ctx.plan.cycle_rounds} rounds")
    peers = _by_name(ctx)

    def one(name: str) -> dict[str, float]:
        return _cycle(peers[name], ctx.bundles.true, ctx.workdir)

    interleaved(ctx, ctx.plan.cycle_rounds, figs, one)
    return list(figs.values())


def measure_version(ctx: Context) -> Figure:
    fig = figure(ctx, "version", "`--version` (start-up cost)", "ms", PYTHON)
    ctx.say(f"--version: {ctx.plan.version_rounds} rounds")
    peers = _by_name(ctx)

    def one(name: str) -> dict[str, float]:
        return {"version": proc.run([peers[name].binary, "--version"]).wall_ns / 1e6}

    interleaved(ctx, ctx.plan.version_rounds, {"version": fig}, one)
    return fig
