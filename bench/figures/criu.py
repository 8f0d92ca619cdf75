"""checkpoint and restore of the busybox counter, each runtime driving the same criu.

One round per runtime: `run -d` the counter (stdout and stderr a pipe: criu dumps
pipes, not host files), wait for its first line, time `checkpoint` (the container is
deleted afterwards, as runc does), time `restore -d` into a new pipe, wait for the
next line (it must go on), delete. criu is the one `criu_binary()` finds; the bench
builds nothing: without one the figures say n/a and why. A runtime whose checkpoint
fails gets n/a with its error (crun 1.8 links Debian's libcriu 3.17, too old here).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time

from bench import proc
from bench.context import Context
from bench.model import Figure
from bench.peers import Peer
from bench.stats import rotated

CACHED = "/var/cache/shim-criu/bin/criu"  # where scripts/build-criu.sh puts it
LINE_TIMEOUT = 10.0


def criu_binary() -> tuple[str, str]:
    """($SHIM_CRIU, or scripts/build-criu.sh's cached build, or `criu` on PATH if new
    enough: `criu check` passes), or ("", why there is none)."""
    candidates = [os.environ.get("SHIM_CRIU", ""), CACHED, shutil.which("criu") or ""]
    for path in filter(None, candidates):
        try:
            check = subprocess.run([path, "check"], capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.SubprocessError):
            continue
        if check.returncode == 0:
            return path, ""
    return "", "n/a: no working criu (scripts/build-criu.sh builds one)"


def _first_line(fd: int) -> None:
    """Wait for the counter to print (the container runs); bytes after it are dropped."""
    deadline = time.monotonic() + LINE_TIMEOUT
    while time.monotonic() < deadline:
        ready = select.select([fd], [], [], deadline - time.monotonic())[0]
        if ready and b"\n" in os.read(fd, 4096):
            return
    raise proc.BenchError(f"the counter printed nothing in {LINE_TIMEOUT:.0f} s")


def _detached(argv: list[str]) -> tuple[proc.Finished, int]:
    """Run argv with stdout and stderr on a new pipe (the container keeps its write end);
    (how long it took, the read end)."""
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        t0 = time.perf_counter_ns()
        pid = proc.spawn(argv, stdout=w, stderr=w)
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter_ns() - t0
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    if os.waitstatus_to_exitcode(status) != 0:
        said = os.read(r, 65536) if select.select([r], [], [], 0)[0] else b""
        os.close(r)
        raise proc.BenchError(f"{' '.join(argv)}: {said.decode(errors='replace').strip()}")
    cpu = round((usage.ru_utime + usage.ru_stime) * 1e9)
    return proc.Finished(wall, cpu, usage.ru_maxrss), r


def _round(peer: Peer, criu: str, bundle: str, workdir: str) -> tuple[float, float]:
    """(checkpoint ms, restore ms) of one counter."""
    cid = peer.new_id()
    image = os.path.join(workdir, f"{cid}-image")
    _, out = _detached(peer.argv("run", "--detach", "--bundle", bundle, cid))
    try:
        _first_line(out)
        dump = proc.run(
            peer.argv("--criu", criu, "checkpoint", "--image-path", image, "--work-path",
                      f"{image}-dump", cid)
        )  # fmt: skip
    finally:
        os.close(out)
    restore, out = _detached(
        peer.argv("--criu", criu, "restore", "--detach", "--bundle", bundle, "--image-path",
                  image, "--work-path", f"{image}-restore", cid)
    )  # fmt: skip
    try:
        _first_line(out)
    finally:
        os.close(out)
        peer.delete(cid, force=True)
        for path in (image, f"{image}-dump", f"{image}-restore"):
            shutil.rmtree(path, ignore_errors=True)
    return dump.wall_ns / 1e6, restore.wall_ns / 1e6


def _reason(err: proc.BenchError) -> str:
    """The runtime's own first words about it (`... exit status 1: <stderr>`)."""
    said = str(err).split(": exit status ", 1)[-1].partition(": ")[2] or str(err)
    return said.strip().splitlines()[0][:70] if said.strip() else str(err)[:70]


def measure(ctx: Context) -> list[Figure]:
    dump = Figure(key="checkpoint", title="`checkpoint` of the counter container", unit="ms")
    restore = Figure(key="restore", title="`restore -d` of the counter container", unit="ms")
    criu, why = criu_binary()
    peers = {p.name: p for p in ctx.peers}
    for name, peer in peers.items():
        if not criu:
            dump.na[name] = restore.na[name] = why
            continue
        try:
            first = _round(peer, criu, ctx.bundles.counter, ctx.workdir)
        except proc.BenchError as err:
            dump.na[name] = restore.na[name] = f"n/a: {_reason(err)}"
            continue
        dump.samples[name], restore.samples[name] = [first[0]], [first[1]]
    working = list(dump.samples)
    ctx.say(f"checkpoint/restore: {ctx.plan.criu_rounds} rounds ({', '.join(working) or 'nobody'})")
    for turn in range(ctx.plan.criu_rounds - 1):
        for name in rotated(working, turn):
            took = _round(peers[name], criu, ctx.bundles.counter, ctx.workdir)
            dump.samples[name].append(took[0])
            restore.samples[name].append(took[1])
    return [dump, restore]
