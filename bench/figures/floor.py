"""The physical floor: what the kernel alone charges for the work a runtime must do.

`unshare` makes the same namespaces as the bundle (pid, mount, uts, ipc, net) and
mounts a fresh /proc, then runs `true`; `spawn` is posix_spawn + wait4 of busybox
`true`. A runtime's figure then reads as "x ms above the floor".
"""

from __future__ import annotations

import shutil

from bench import proc
from bench.bundles import BUSYBOX
from bench.context import Context
from bench.model import Figure
from bench.stats import rotated

UNSHARE = "unshare"  # floor row names, used by the figures that subtract them
SPAWN = "spawn"


def floor_argvs() -> dict[str, list[str]]:
    unshare = shutil.which("unshare")
    if unshare is None:
        raise proc.BenchError("unshare: not found (util-linux)")
    flags = ["--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--mount-proc"]
    return {UNSHARE: [unshare, *flags, "true"], SPAWN: [BUSYBOX, "true"]}


def measure(ctx: Context) -> Figure:
    argvs = floor_argvs()
    ctx.say(f"floor: {ctx.plan.floor_rounds} rounds of {', '.join(argvs)}")
    samples: dict[str, list[float]] = {name: [] for name in argvs}
    for turn in range(ctx.plan.floor_rounds):
        for name in rotated(list(argvs), turn):
            samples[name].append(proc.run(argvs[name]).wall_ns / 1e6)
    ctx.floors.update(samples)
    return Figure(
        key="floor",
        title="floor: `unshare --fork --pid --mount --uts --ipc --net --mount-proc true`"
        " and posix_spawn+wait of busybox `true`",
        unit="ms",
        samples=samples,
    )
