"""fd count and RSS of a long-lived process driving the library (bench/library_churn.py).

Only our runtime has a library to drive; the containerd shims' long-lived figures
wait for our containerd shim.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec

from bench import proc
from bench.context import Context
from bench.model import LibraryResult
from bench.peers import Peer

REPO = str(Path(__file__).resolve().parents[2])
TIMEOUT = 600.0


def measure(ctx: Context, shim: Peer) -> LibraryResult:
    """Run the churn child under `shim`'s binary name but its own root (cleanup uses it)."""
    plan = ctx.plan
    ctx.say(f"library: {plan.library_cycles} in-process cycles")
    argv = [
        sys.executable,
        "-m",
        "bench.library_churn",
        *("--root", shim.root, "--bundle", ctx.bundles.true),
        *("--cycles", str(plan.library_cycles), "--every", str(plan.library_every)),
    ]
    env = {**os.environ, "PYTHONPATH": REPO}
    done = subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, timeout=TIMEOUT, check=False
    )
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        raise proc.BenchError(f"bench.library_churn: exit {done.returncode}: {err[-1:]}")
    return msgspec.json.decode(done.stdout, type=LibraryResult)
