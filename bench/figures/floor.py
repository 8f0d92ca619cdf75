"""The physical floor: what the kernel alone charges for the work a runtime must do.

`unshare` makes the same namespaces as the bundle (pid, mount, uts, ipc, net) and
mounts a fresh /proc, then runs `true`; `cgroup` makes a cgroup in every hierarchy
and moves a process in (cgroup_floor.py); `spawn` is posix_spawn + wait4 of busybox
`true`. Container figures stand on `unshare + cgroup` (the two summed round by
round), the others on `spawn`: a runtime's figure reads as "x ms above the floor".
"""

from __future__ import annotations

import os
import shutil

from bench import proc
from bench.bundles import BUSYBOX
from bench.cgroup_floor import cgroup_round, own_cgroup_dirs
from bench.context import Context
from bench.model import Figure
from bench.stats import rotated

UNSHARE = "unshare"  # floor row names, used by the figures that subtract them
CGROUP = "cgroup"
SPAWN = "spawn"
CONTAINER = "unshare + cgroup"
PYTHON = "python"  # the venv's interpreter doing nothing: measured by figures/startup.py


def floor_argvs() -> dict[str, list[str]]:
    unshare = shutil.which("unshare")
    if unshare is None:
        raise proc.BenchError("unshare: not found (util-linux)")
    flags = ["--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "--mount-proc"]
    return {UNSHARE: [unshare, *flags, "true"], SPAWN: [BUSYBOX, "true"]}


def measure(ctx: Context) -> Figure:
    argvs = floor_argvs()
    dirs = own_cgroup_dirs()
    ctx.say(f"floor: {ctx.plan.floor_rounds} rounds of {UNSHARE}, {CGROUP}, {SPAWN}")
    samples: dict[str, list[float]] = {UNSHARE: [], CGROUP: [], SPAWN: []}
    for turn in range(ctx.plan.floor_rounds):
        for name in rotated(list(samples), turn):
            if name == CGROUP:
                ms = cgroup_round(dirs, f"bench-{os.getpid()}-floor-{turn}")
            else:
                ms = proc.run(argvs[name]).wall_ns / 1e6
            samples[name].append(ms)
    ctx.floors.update(samples)
    ctx.floors[CONTAINER] = [a + b for a, b in zip(samples[UNSHARE], samples[CGROUP], strict=True)]
    return Figure(
        key="floor",
        title="floor: `unshare --fork --pid --mount --uts --ipc --net --mount-proc true`;"
        " mkdir + attach + rmdir of a cgroup in every hierarchy; posix_spawn+wait of busybox"
        " `true`",
        unit="ms",
        samples=samples,
    )
