"""`python -m bench [--quick] [--json PATH] [RUNTIME ...]`: measure, print tables, save samples.

Exit status: 0 with results, 1 if a measurement or cleanup failed, 2 if the host
lacks something (root, busybox, a runtime): the bench installs nothing itself; 99 if
the run changed the host (tests/host_guard.py: "/" mounts, /dev/null, canaries).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import bundles, proc, report, sandbox
from bench.context import Context, stderr_progress
from bench.figures import (
    churn,
    criu,
    exec_into,
    floor,
    library,
    lifecycle,
    memory,
    startup,
    stream,
)
from bench.model import Figure, LibraryResult, Results, RunInfo, Startup
from bench.peers import DEFAULT_RUNTIMES, Peer, make_peers, missing, shim_binary, version
from bench.plan import FULL, QUICK, Plan

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    parser.add_argument("--json", metavar="PATH", help="where to write every sample")
    parser.add_argument(
        "--report",
        metavar="PATH",
        help="print the tables of an earlier run's JSON; measure nothing",
    )
    parser.add_argument(
        "runtimes",
        nargs="*",
        metavar="RUNTIME",
        help="names or paths, ours first: ratios are to the first"
        f" (default: {' '.join(DEFAULT_RUNTIMES)})",
    )
    return parser.parse_args(argv)


def preflight(names: list[str]) -> list[str]:
    problems = [] if os.geteuid() == 0 else ["needs root: namespaces, mounts and cgroups"]
    if not os.path.exists(bundles.BUSYBOX):
        problems.append(f"{bundles.BUSYBOX}: not found (apt-get install -y busybox-static)")
    if shim_binary() is None:
        problems.append("shim: not found (it builds the bundle: scripts/setup.sh)")
    if len(set(map(os.path.basename, names))) != len(names):
        problems.append(f"runtimes named twice: {' '.join(names)}")
    return problems + missing(names)


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=RESULTS_DIR.parent.parent,
            capture_output=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.decode().strip()


def _info(argv: list[str], plan: Plan, peers: list[Peer]) -> RunInfo:
    uname = os.uname()
    versions = {peer.name: version(peer) for peer in peers}
    versions["python"] = sys.version.split()[0]
    return RunInfo(
        command=" ".join(["python -m bench", *argv]),
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        mode=plan.mode,
        host=f"{uname.sysname} {uname.release}, {os.cpu_count()} cores",
        versions=versions,
        commit=_commit(),
    )


def _measure(
    ctx: Context, lib_peer: Peer | None
) -> tuple[list[Figure], LibraryResult | None, Startup | None]:
    figures = [floor.measure(ctx)]
    startup.prepare(ctx)  # first: what each command imports, for the split in every phase
    figures += [lifecycle.measure_run(ctx), *lifecycle.measure_cycle(ctx)]
    figures += startup.measure(ctx)
    figures += memory.measure(ctx)
    figures += [lifecycle.measure_version(ctx), exec_into.measure(ctx), stream.measure(ctx)]
    figures += churn.measure(ctx)
    figures += criu.measure(ctx)
    lib = library.measure(ctx, lib_peer) if lib_peer is not None else None
    split = ctx.split.result if ctx.split is not None and ctx.split.script else None
    return figures, lib, split


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the cleanup below


def run(args: argparse.Namespace, argv: list[str], names: list[str]) -> int:
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    say = stderr_progress(started)
    notes = sandbox.enter()
    workdir = tempfile.mkdtemp(prefix="shim-bench-")
    peers = make_peers(names, workdir)
    lib_peer = None
    if "shim" in [p.name for p in peers]:
        shim = next(p for p in peers if p.name == "shim")
        lib_peer = Peer("shim-library", shim.binary, os.path.join(workdir, "root-library"))
        os.mkdir(lib_peer.root, 0o700)
    info = _info(argv, plan, peers)
    failed: list[str] = []
    interrupted = False
    try:
        binary = shim_binary()
        assert binary is not None  # preflight checked
        built = bundles.build(binary, workdir, plan.stream_mib)
        ctx = Context(peers=peers, bundles=built, plan=plan, workdir=workdir, say=say)
        figures, lib, split = _measure(ctx, lib_peer)
    except proc.BenchError as err:
        failed.append(str(err))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        for peer in [*peers, *([lib_peer] if lib_peer else [])]:
            failed += peer.cleanup()
        proc.reap_orphans()
        if not failed:
            shutil.rmtree(workdir, ignore_errors=True)
    if interrupted:
        failed.append("interrupted")
    if failed:
        for line in failed:
            print(f"bench: {line}", file=sys.stderr)
        if os.path.isdir(workdir):
            print(f"bench: files kept in {workdir}", file=sys.stderr)
        return 130 if interrupted else 1
    info.seconds = time.monotonic() - started
    results = Results(info=info, figures=figures, library=lib, startup=split, notes=notes)
    path = args.json or str(RESULTS_DIR / f"{info.date.replace(':', '')}-{plan.mode}.json")
    report.write_json(path, results)
    print(report.render(results), end="")
    print(f"\nsamples: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.report:
        print(report.render(report.read_json(args.report)), end="")
        return 0
    names = args.runtimes or list(DEFAULT_RUNTIMES)
    problems = preflight(names)
    if problems:
        for line in problems:
            print(f"bench: {line}", file=sys.stderr)
        return 2
    if not sandbox.inside():
        sandbox.reexec()
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    return run(args, argv, names)
