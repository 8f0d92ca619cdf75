"""Our containerd shim against containerd-shim-runc-v2, one containerd, one run:
`python -m bench.containerd_bench [--rounds N] [--json PATH]` (as root, from the repo).

A private containerd (tests/containerd/harness.py: own root, state, sockets; the busybox
image built offline) runs both runtimes, interleaved round by round:

* `ctr run --rm` of busybox `true`: wall time (median, p90);
* `ctr task exec` of `true` into a running task: wall time;
* exit -> /tasks/exit: how long after the process was reaped (`exited_at`) the event
  reaches a `ctr events` reader (p50, p99);
* PSS of the shim processes (ours: with the zygote they are forked from): one container
  per shim, 20 containers of one sandbox group (per container), and 20 containers with
  a shim each (per container);
* stdout: 1 GiB written by `dd` in the container, through the shim's fifo copy to
  `ctr`, read by us (MiB/s);
* idle: CPU the shims use in 5 s while 20 containers sleep.

Nothing is asserted; a table is printed and the samples go to --json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

RUNTIMES = {"pyshim": "io.containerd.pyshim.v1", "runc-v2": "io.containerd.runc.v2"}
GIB = 1 << 30


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Bench:
    def __init__(self, ctd: object) -> None:
        from tests.containerd.harness import BUSYBOX_IMAGE, Containerd

        assert isinstance(ctd, Containerd)
        self.ctd = ctd
        self.image = BUSYBOX_IMAGE
        self.env = dict(os.environ, CONTAINERD_SNAPSHOTTER="native")
        self.n = 0

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(
            ["ctr", "--address", self.ctd.address, *args],
            capture_output=True, env=self.env, timeout=120, check=False,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {proc.stderr.decode()}")
        return proc

    def cid(self, tag: str) -> str:
        self.n += 1
        return f"{tag}-{self.n}"

    def run_rm(self, name: str) -> float:
        t0 = time.perf_counter()
        cid = self.cid(f"rm-{name}")
        self.ctr("run", "--rm", "--runtime", RUNTIMES[name], self.image, cid, "true")
        return time.perf_counter() - t0

    def start_sleeper(self, runtime: str, annotation: str = "") -> str:
        cid = self.cid("sleep")
        extra = ["--annotation", annotation] if annotation else []
        self.ctr("run", "-d", "--runtime", runtime, *extra, self.image, cid, "sleep", "100000")
        return cid

    def remove(self, cid: str) -> None:
        self.ctr("tasks", "kill", "-a", "-s", "KILL", cid, check=False)
        for _ in range(200):
            if self.ctr("tasks", "delete", cid, check=False).returncode == 0:
                break
            time.sleep(0.02)
        self.ctr("containers", "delete", cid, check=False)

    def exec_true(self, cid: str) -> float:
        t0 = time.perf_counter()
        self.ctr("tasks", "exec", "--exec-id", self.cid("x"), cid, "true")
        return time.perf_counter() - t0

    def shim_pids(self) -> list[int]:
        return [p for p in self.ctd.shim_pids() if b"delete" not in _argv(p)]

    def zygote_pss_kb(self, name: str) -> int:
        """Our zygote (the warm parent the daemons are forked from) is memory our shim
        costs too: its PSS is added to ours. runc-v2 has none."""
        if name != "pyshim":
            return 0
        from shim.shimv2.zygote import socket_path

        path = socket_path().encode()
        total = 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                argv = _argv(int(entry)).split(b"\0")
                try:
                    cwd = os.readlink(f"/proc/{entry}/cwd")
                except OSError:
                    continue
                if b"-zygote" in argv and path in argv and cwd == "/":
                    total += _pss_kb(int(entry))
        return total

    def stdout_rate(self, runtime: str) -> float:
        cid = self.cid("dd")
        argv = ["ctr", "--address", self.ctd.address, "run", "--rm", "--runtime", runtime]
        argv += [self.image, cid, "dd", "if=/dev/zero", "bs=1M", f"count={GIB >> 20}"]
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self.env
        )
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        got, first = 0, 0.0
        while chunk := os.read(fd, 1 << 20):
            if not got:
                first = time.perf_counter()
            got += len(chunk)
        proc.wait(timeout=120)
        seconds = time.perf_counter() - first
        return got / (1 << 20) / seconds if seconds > 0 else 0.0


def _argv(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_ms(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            continue
        fields = raw[raw.rindex(b")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total * 1000 / tick


class ExitWatch:
    """`ctr events` in the background: for each /tasks/exit, arrival minus exited_at."""

    def __init__(self, address: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            ["ctr", "--address", address, "events"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )  # fmt: skip
        self.delays: dict[str, float] = {}
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            arrived = time.time()
            if " /tasks/exit " not in line:
                continue
            body = json.loads(line[line.index("{") :])
            stamp = body.get("exited_at", "")
            if stamp:
                when = datetime.fromisoformat(stamp.replace("Z", "+00:00")[:26] + "+00:00")
                self.delays[body.get("container_id", "")] = arrived - when.timestamp()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def measure(rounds: int, group: int) -> dict[str, dict[str, object]]:
    from tests.containerd.harness import Containerd

    out: dict[str, dict[str, object]] = {name: {} for name in RUNTIMES}
    with (
        tempfile.TemporaryDirectory(prefix="ctd-bench-") as tmp,
        Containerd.started(Path(tmp), bench=True) as ctd,
    ):
        bench = Bench(ctd)
        watch = ExitWatch(ctd.address, bench.env)
        time.sleep(0.5)
        runs: dict[str, list[float]] = {n: [] for n in RUNTIMES}
        for i in range(rounds):
            for name in list(RUNTIMES) if i % 2 else list(RUNTIMES)[::-1]:
                runs[name].append(bench.run_rm(name))
        for name, runtime in RUNTIMES.items():
            cid = bench.start_sleeper(runtime)
            execs = [bench.exec_true(cid) for _ in range(rounds)]
            (pid,) = [p for p in bench.shim_pids() if _pss_kb(p)][-1:]
            pss_one = _pss_kb(pid) + bench.zygote_pss_kb(name)
            bench.remove(cid)
            note = f"io.kubernetes.cri.sandbox-id=g-{name}"
            ids = [bench.start_sleeper(runtime, note) for _ in range(group)]
            time.sleep(0.5)
            pids = bench.shim_pids()
            pss_group = (sum(_pss_kb(p) for p in pids) + bench.zygote_pss_kb(name)) / group
            cpu0 = _cpu_ms(pids)
            time.sleep(5)
            idle = _cpu_ms(pids) - cpu0
            for cid in ids:
                bench.remove(cid)
            alone = [bench.start_sleeper(runtime) for _ in range(group)]  # a shim each
            time.sleep(0.5)
            pss_alone = (
                sum(_pss_kb(p) for p in bench.shim_pids()) + bench.zygote_pss_kb(name)
            ) / group
            for cid in alone:
                bench.remove(cid)
            rate = bench.stdout_rate(runtime)
            out[name] = {
                "run_rm_ms": [v * 1000 for v in runs[name]],
                "exec_ms": [v * 1000 for v in execs],
                "pss_one_kb": pss_one,
                "pss_per_container_in_group_kb": pss_group,
                "pss_per_container_one_shim_each_kb": pss_alone,
                "idle_cpu_ms_5s": idle,
                "stdout_mib_s": rate,
            }
        time.sleep(0.5)
        watch.close()
        for name in RUNTIMES:
            prefix = f"rm-{name}-"
            out[name]["exit_event_ms"] = [
                v * 1000 for k, v in watch.delays.items() if k.startswith(prefix)
            ]
    return out


def table(result: dict[str, dict[str, object]]) -> str:
    ours, theirs = result["pyshim"], result["runc-v2"]

    def num(d: dict[str, object], key: str) -> float:
        value = d[key]
        assert isinstance(value, (int, float))
        return float(value)

    def values(d: dict[str, object], key: str) -> list[float]:
        value = d[key]
        assert isinstance(value, list)
        return [float(v) for v in value]

    rows = [
        ("`ctr run --rm` (ms, median)", statistics.median(values(ours, "run_rm_ms")),
         statistics.median(values(theirs, "run_rm_ms"))),
        ("`ctr task exec` (ms, median)", statistics.median(values(ours, "exec_ms")),
         statistics.median(values(theirs, "exec_ms"))),
        ("exit -> /tasks/exit (ms, p99)", _pct(values(ours, "exit_event_ms"), 0.99),
         _pct(values(theirs, "exit_event_ms"), 0.99)),
        ("shim PSS, 1 container (MiB)", num(ours, "pss_one_kb") / 1024,
         num(theirs, "pss_one_kb") / 1024),
        ("shim PSS per container, 20 in a group (MiB)",
         num(ours, "pss_per_container_in_group_kb") / 1024,
         num(theirs, "pss_per_container_in_group_kb") / 1024),
        ("shim PSS per container, 20 with a shim each (MiB)",
         num(ours, "pss_per_container_one_shim_each_kb") / 1024,
         num(theirs, "pss_per_container_one_shim_each_kb") / 1024),
        ("stdout through the shim (MiB/s, higher is better)", num(ours, "stdout_mib_s"),
         num(theirs, "stdout_mib_s")),
        ("idle shims, 20 containers: CPU in 5 s (ms)", num(ours, "idle_cpu_ms_5s"),
         num(theirs, "idle_cpu_ms_5s")),
    ]  # fmt: skip
    lines = ["| figure | pyshim | runc-v2 | ratio |", "|---|---:|---:|---:|"]
    for name, a, b in rows:
        ratio = f"{a / b:.2f}x" if b else "-"
        lines.append(f"| {name} | {a:.1f} | {b:.1f} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.containerd_bench")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--group", type=int, default=20)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("needs root")
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    result = measure(args.rounds, args.group)
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
