"""Churn: create + start + wait + delete cycles back to back, by 1 and by 8 workers.

Each round, each runtime runs a block of cycles (runtimes rotate); a block gives
cycles per second and CPU ms per cycle: the rusage of every process reaped during
the block (the runtime commands, their helpers, and the container inits, which are
re-parented to the bench as subreaper).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

from bench import proc
from bench.context import Context
from bench.model import Figure
from bench.peers import Peer
from bench.stats import rotated


def _one(peer: Peer, bundle: str, workdir: str) -> float:
    t0 = time.perf_counter_ns()
    cid = peer.new_id()
    pid_file = os.path.join(workdir, f"{cid}.pid")
    proc.run(peer.argv("create", "--bundle", bundle, "--pid-file", pid_file, cid))
    with open(pid_file, encoding="ascii") as f:
        pid = int(f.read())
    os.unlink(pid_file)
    proc.run(peer.argv("start", cid))
    proc.wait_exit(pid)
    peer.delete(cid)
    return (time.perf_counter_ns() - t0) / 1e6


def _block(peer: Peer, ctx: Context, workers: int, cycles: int) -> tuple[float, float, list[float]]:
    """cycles/s, CPU ms per cycle, and each cycle's latency (ms)."""
    proc.reap_orphans()
    cpu0, t0 = proc.cpu_children_ns(), time.perf_counter_ns()
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(_one, peer, ctx.bundles.true, ctx.workdir) for _ in range(cycles)]
        latencies = [f.result() for f in futures]
    wall = time.perf_counter_ns() - t0
    proc.reap_orphans()
    cpu = proc.cpu_children_ns() - cpu0
    return cycles / (wall / 1e9), cpu / 1e6 / cycles, latencies


def measure(ctx: Context) -> list[Figure]:
    figs = []
    for workers, cycles in ctx.plan.churn_cycles.items():
        rate = Figure(
            key=f"churn{workers}_rate",
            title=f"churn, {workers} worker{'s' if workers > 1 else ''}: cycles per second"
            f" (per round of {cycles} cycles)",
            unit="cycles/s",
            higher_is_better=True,
        )
        cpu = Figure(
            key=f"churn{workers}_cpu",
            title=f"churn, {workers} worker{'s' if workers > 1 else ''}: CPU per cycle"
            " (rusage of everything reaped)",
            unit="ms",
        )
        latency = Figure(
            key=f"churn{workers}_latency",
            title=f"churn, {workers} worker{'s' if workers > 1 else ''}: latency of one cycle",
            unit="ms",
        )
        for peer in ctx.peers:
            rate.samples[peer.name], cpu.samples[peer.name] = [], []
            latency.samples[peer.name] = []
        ctx.say(f"churn x{workers}: {ctx.plan.churn_rounds} rounds of {cycles} cycles")
        peers = {p.name: p for p in ctx.peers}
        for turn in range(ctx.plan.churn_rounds):
            for name in rotated(list(peers), turn):
                per_s, cpu_ms, lat = _block(peers[name], ctx, workers, cycles)
                rate.samples[name].append(per_s)
                cpu.samples[name].append(cpu_ms)
                latency.samples[name].extend(lat)
        figs += [rate, cpu, latency]
    return figs
