"""The supervisor in one process against runc's CLI: `python -m bench.supervisor_bench`.

    python -m bench.supervisor_bench [--rounds N] [--concurrent N] [--json PATH]

As root, from the repo root (busybox-static and runc installed). In one run, interleaved
round by round:

* cycle: create + start + wait + delete of busybox `true`, in-process on the supervisor
  vs `runc create/start/delete` (runc's init waited for through a pidfd): medians, ratio;
* exec: an exec'd `true` into a running container, started and waited for, in-process vs
  `runc exec`;
* concurrent: N cycles at once, containers per second, supervisor vs N runc cycles in
  N threads;
* idle: CPU time the supervisor uses in 5 s while N containers run (`sleep`): it waits on
  pidfds and inotify, so it should be zero.

Nothing is asserted: a table is printed, and every sample goes to `--json`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio

from shim.supervisor.supervisor import Supervisor

PROCESS_TRUE = json.dumps({"args": ["true"], "cwd": "/", "env": ["PATH=/bin"]}).encode()


def _bundle(base: Path, name: str, args: list[str]) -> Path:
    bundle = base / name
    subprocess.run(
        [
            str(Path(sys.executable).with_name("shim")),
            "spec",
            "--busybox",
            "--bundle",
            str(bundle),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["args"] = args
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def _runc(root: Path, *args: str) -> None:
    # runc hands its stdio to the container: never a pipe we would wait on
    subprocess.run(
        ["runc", "--root", str(root), *args],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
    )


def runc_cycle(root: Path, bundle: Path, cid: str) -> float:
    t0 = time.perf_counter()
    _runc(root, "create", "--bundle", str(bundle), cid)
    state = json.loads(
        subprocess.run(
            ["runc", "--root", str(root), "state", cid],
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=60,
        ).stdout
    )
    pidfd = os.pidfd_open(int(state["pid"]))
    try:
        _runc(root, "start", cid)
        import select

        select.select([pidfd], [], [], 60)
    finally:
        os.close(pidfd)
    _runc(root, "delete", cid)
    return time.perf_counter() - t0


async def shim_cycle(sup: Supervisor, bundle: Path, cid: str) -> float:
    t0 = time.perf_counter()
    await sup.create(cid, str(bundle))
    await sup.start(cid)
    await sup.wait(cid)
    await sup.delete(cid)
    return time.perf_counter() - t0


async def shim_exec(sup: Supervisor, cid: str, exec_id: str) -> float:
    t0 = time.perf_counter()
    await sup.exec(cid, exec_id, PROCESS_TRUE)
    await sup.wait(cid, exec_id)
    await sup.delete(cid, exec_id)
    return time.perf_counter() - t0


def runc_exec(root: Path, cid: str) -> float:
    t0 = time.perf_counter()
    _runc(root, "exec", cid, "true")
    return time.perf_counter() - t0


def runc_concurrent(root: Path, bundle: Path, prefix: str, n: int) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(lambda i: runc_cycle(root, bundle, f"{prefix}-{i}"), range(n)))
    return n / (time.perf_counter() - t0)


def driver(root: Path) -> int:
    """`--driver ROOT`: run runc for the measuring process, one JSON request per line.

    runc's commands are children of this process, not of the supervisor's: a supervisor
    owns every child of its own process (its reaper would collect runc's statuses)."""
    for line in sys.stdin:
        op, args = json.loads(line)
        if op == "cycle":
            out: object = runc_cycle(root, Path(args[0]), args[1])
        elif op == "exec":
            out = runc_exec(root, args[0])
        elif op == "concurrent":
            out = runc_concurrent(root, Path(args[0]), args[1], int(args[2]))
        else:
            _runc(root, *args)
            out = None
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return 0


class RuncDriver:
    """The measuring process's handle on the driver (started before the supervisor)."""

    def __init__(self, root: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.supervisor_bench", "--driver", str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _call(self, op: str, *args: object) -> object:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps([op, [str(a) for a in args]]) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the runc driver failed on {op} {args}")
        return json.loads(line)

    async def call(self, op: str, *args: object) -> float:
        out = await anyio.to_thread.run_sync(lambda: self._call(op, *args))
        return float(out) if isinstance(out, (int, float)) else 0.0

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


async def measure(args: argparse.Namespace, work: Path) -> dict[str, object]:
    true_bundle = _bundle(work, "true", ["true"])
    sleep_bundle = _bundle(work, "sleep", ["sleep", "1000"])
    runc_root, shim_root = work / "runc-root", work / "shim-root"
    tag = os.getpid()
    runc = RuncDriver(runc_root)
    try:
        return await _measure(args, runc, true_bundle, sleep_bundle, shim_root, tag)
    finally:
        runc.close()


async def _measure(
    args: argparse.Namespace,
    runc: RuncDriver,
    true_bundle: Path,
    sleep_bundle: Path,
    shim_root: Path,
    tag: int,
) -> dict[str, object]:
    kinds = ("shim_cycle", "runc_cycle", "shim_exec", "runc_exec")
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    async with Supervisor.open(str(shim_root)) as sup:
        for i in range(args.rounds):  # interleaved, alternating who goes first
            shim_first = i % 2 == 0
            for which in ("shim", "runc") if shim_first else ("runc", "shim"):
                if which == "shim":
                    value = await shim_cycle(sup, true_bundle, f"sb-{tag}-{i}")
                else:
                    value = await runc.call("cycle", true_bundle, f"rb-{tag}-{i}")
                samples[f"{which}_cycle"].append(value)
        # exec into one running container of each
        await sup.create(f"se-{tag}", str(sleep_bundle))
        await sup.start(f"se-{tag}")
        await runc.call("run", "run", "-d", "--bundle", sleep_bundle, f"re-{tag}")
        try:
            for i in range(args.rounds):
                samples["shim_exec"].append(await shim_exec(sup, f"se-{tag}", f"e{i}"))
                samples["runc_exec"].append(await runc.call("exec", f"re-{tag}"))
        finally:
            await sup.delete(f"se-{tag}", force=True)
            await runc.call("delete", "delete", "--force", f"re-{tag}")
        # N at once
        n = args.concurrent
        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(shim_cycle, sup, true_bundle, f"sc-{tag}-{i}")
        shim_rate = n / (time.perf_counter() - t0)
        runc_rate = await runc.call("concurrent", true_bundle, f"rc-{tag}", n)
        # idle with N running
        ids = [f"si-{tag}-{i}" for i in range(n)]
        for cid in ids:
            await sup.create(cid, str(sleep_bundle))
            await sup.start(cid)
        await anyio.sleep(0.5)
        before = resource.getrusage(resource.RUSAGE_SELF)
        await anyio.sleep(5)
        after = resource.getrusage(resource.RUSAGE_SELF)
        idle_cpu_ms = (
            (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        ) * 1000
        for cid in ids:
            await sup.delete(cid, force=True)
    return {
        "samples_s": samples,
        "cycle_ms": {
            "shim": _median_ms(samples["shim_cycle"]),
            "runc": _median_ms(samples["runc_cycle"]),
        },
        "exec_ms": {
            "shim": _median_ms(samples["shim_exec"]),
            "runc": _median_ms(samples["runc_exec"]),
        },
        "concurrent_per_s": {"shim": shim_rate, "runc": runc_rate, "n": n},
        "idle_cpu_ms_in_5s": idle_cpu_ms,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.supervisor_bench")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--driver", metavar="ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.driver:
        return driver(Path(args.driver))
    if os.geteuid() != 0 or shutil.which("runc") is None:
        print("needs root and runc (scripts/setup.sh installs it)")
        return 2
    with tempfile.TemporaryDirectory(prefix="shim-supbench-") as tmp:
        result = anyio.run(measure, args, Path(tmp))
    cycle, exec_, conc = result["cycle_ms"], result["exec_ms"], result["concurrent_per_s"]
    assert isinstance(cycle, dict)
    assert isinstance(exec_, dict)
    assert isinstance(conc, dict)
    rows = [
        ("create+start+wait+delete (ms, median)", cycle["shim"], cycle["runc"]),
        ("exec + wait (ms, median)", exec_["shim"], exec_["runc"]),
        (f"{conc['n']} cycles at once (containers/s)", conc["shim"], conc["runc"]),
    ]
    print("| figure | supervisor | runc CLI | ratio |")
    print("|---|---:|---:|---:|")
    for name, ours, theirs in rows:
        print(f"| {name} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f}x |")
    idle = result["idle_cpu_ms_in_5s"]
    print(f"| idle, {conc['n']} containers running: CPU in 5 s (ms) | {idle:.1f} | | |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
