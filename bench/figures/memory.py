"""Memory: peak RSS of `create` with the helpers it waits for, and RSS of the waiting init.

The peak comes from GNU time's `%M` (wait4's ru_maxrss of the create process tree).
The bench cannot take wait4's figure itself: a child exec'd out of posix_spawn's
vfork is charged the parent's peak RSS (the kernel keeps the old mm's high-water
mark at exec), so every runtime would read as big as the Python bench. The floor row
is `time` running busybox `true`: time's own fork is charged the same way.
"""

from __future__ import annotations

import os
import shutil

from bench import proc
from bench.bundles import BUSYBOX
from bench.context import Context
from bench.figures.lifecycle import figure
from bench.model import Figure
from bench.peers import Peer
from bench.stats import rotated

TIME = "/usr/bin/time"
FLOOR = "time busybox true"
NO_TIME = "n/a: needs GNU time (/usr/bin/time: apt-get install -y time)"


def _peak_kb(time_bin: str, argv: list[str], out: str) -> int:
    proc.run([time_bin, "-f", "%M", "-o", out, *argv])
    with open(out, encoding="ascii") as f:
        return int(f.read().split()[-1])


def _created(peer: Peer, ctx: Context, time_bin: str | None) -> tuple[int | None, int]:
    """Create under `time`; the peak RSS (KiB) and the init's VmRSS (KiB), then delete."""
    cid = peer.new_id()
    argv = peer.argv("create", "--bundle", ctx.bundles.true, cid)
    out = os.path.join(ctx.workdir, f"{cid}.time")
    if time_bin is None:
        peak = None
        proc.run(argv)
    else:
        peak = _peak_kb(time_bin, argv, out)
        os.unlink(out)
    _, pid = peer.state(cid)
    init_kb = proc.vm_rss_kb(pid)
    peer.delete(cid)
    proc.wait_exit(pid)
    return peak, init_kb


def measure(ctx: Context) -> list[Figure]:
    time_bin = TIME if os.access(TIME, os.X_OK) else shutil.which("time")
    peak = figure(ctx, "create_rss", "peak RSS of `create` and the helpers it waits for", "MiB")
    init = figure(ctx, "init_rss", "RSS of the init waiting in `created` (VmRSS)", "MiB")
    ctx.say(f"memory: {ctx.plan.memory_rounds} rounds")
    peers = {p.name: p for p in ctx.peers}
    for turn in range(ctx.plan.memory_rounds):
        for name in rotated(list(peers), turn):
            peak_kb, init_kb = _created(peers[name], ctx, time_bin)
            if peak_kb is not None:
                peak.samples[name].append(peak_kb / 1024)
            init.samples[name].append(init_kb / 1024)
        if time_bin is not None:
            out = os.path.join(ctx.workdir, "floor.time")
            peak.floor.append(_peak_kb(time_bin, [BUSYBOX, "true"], out) / 1024)
    if time_bin is None:
        peak.samples, peak.na = {}, {name: NO_TIME for name in peers}
    else:
        peak.floor_name = FLOOR
    return [peak, init]
