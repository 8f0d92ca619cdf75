"""`exec` of busybox `true` into a running container (a long `sleep` started with run -d).

A runtime whose first exec fails (ours before it had exec) gets "n/a" and the reason
in its row instead of numbers; the others are measured as usual.
"""

from __future__ import annotations

from bench import proc
from bench.context import Context
from bench.figures.floor import SPAWN
from bench.figures.lifecycle import interleaved
from bench.model import Figure
from bench.peers import Peer


def _start_sleeper(peer: Peer, bundle: str) -> tuple[str, int]:
    cid = peer.new_id()
    proc.run(peer.argv("run", "--detach", "--bundle", bundle, cid))
    return cid, peer.state(cid)[1]


def _stop(peer: Peer, cid: str, pid: int) -> None:
    try:
        proc.run(peer.argv("kill", cid, "KILL"))
    except proc.BenchError:
        pass  # already gone: delete --force settles it either way
    peer.delete(cid, force=True)
    proc.wait_exit(pid)


def _probe(peer: Peer, cid: str) -> str | None:
    """None if `exec` works in this runtime, else why not (its error, shortened)."""
    try:
        proc.run(peer.argv("exec", cid, "true"))
    except proc.BenchError as err:
        return f"n/a: exec failed: {str(err).rsplit(': ', 1)[-1][:60]}"
    return None


def measure(ctx: Context) -> Figure:
    fig = Figure(
        key="exec",
        title="`exec` of busybox `true` into a running container",
        unit="ms",
        floor_name=SPAWN,
        floor=list(ctx.floors.get(SPAWN, [])),
    )
    peers = {p.name: p for p in ctx.peers}
    sleepers: dict[str, tuple[str, int]] = {}
    try:
        for name, peer in peers.items():
            sleepers[name] = _start_sleeper(peer, ctx.bundles.sleep)
            why = _probe(peer, sleepers[name][0])
            if why is None:
                fig.samples[name] = []
            else:
                fig.na[name] = why
        ctx.say(f"exec: {ctx.plan.exec_rounds} rounds ({', '.join(fig.samples) or 'nobody'})")

        def one(name: str) -> dict[str, float]:
            done = proc.run(peers[name].argv("exec", sleepers[name][0], "true"))
            return {"exec": done.wall_ns / 1e6}

        interleaved(ctx, ctx.plan.exec_rounds, {"exec": fig}, one, list(fig.samples))
    finally:
        for name, (cid, pid) in sleepers.items():
            _stop(peers[name], cid, pid)
    return fig
