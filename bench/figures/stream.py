"""stdout throughput: `run` of busybox `dd` writing zeros into a pipe the bench drains.

The rate is bytes over the time from the first byte to EOF, so container start-up
does not dilute it. The floor is the same dd on the host, into the same kind of pipe.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from functools import partial

from bench import proc
from bench.bundles import BUSYBOX
from bench.context import Context
from bench.model import Figure
from bench.peers import Peer
from bench.stats import rotated

F_SETPIPE_SZ = 1031
PIPE_SIZE = 1 << 20  # one dd block: every writer gets the same pipe
FLOOR = "host dd"


def _read_to_eof(fd: int) -> tuple[int, int, int]:
    """Bytes read, and the clock at the first byte and at EOF (ns)."""
    view = memoryview(bytearray(PIPE_SIZE))
    got, first = 0, 0
    with open(fd, "rb", buffering=0, closefd=False) as pipe:
        while n := pipe.readinto(view):
            if not got:
                first = time.perf_counter_ns()
            got += n
    return got, first, time.perf_counter_ns()


def _drain(argv: list[str], expect: int) -> float:
    """Run argv with stdout into a pipe, read it all; MiB/s from first byte to EOF."""
    r, w = os.pipe2(os.O_CLOEXEC)
    err = os.memfd_create("bench-stderr", os.MFD_CLOEXEC)
    try:
        fcntl.fcntl(w, F_SETPIPE_SZ, PIPE_SIZE)
        pid = proc.spawn(argv, stdout=w, stderr=err)
        os.close(w)
        w = -1
        try:
            got, first, end = _read_to_eof(r)
        except BaseException:
            os.close(r)  # the writer gets EPIPE and ends
            r = -1
            proc.settle(pid)
            raise
        proc.reap(pid, argv, err)
    finally:
        for fd in (r, w, err):
            if fd >= 0:
                os.close(fd)
    if got != expect:
        raise proc.BenchError(f"{' '.join(argv)}: read {got} bytes, expected {expect}")
    return got / (1 << 20) / ((end - first) / 1e9)


def _contained(peer: Peer, bundle: str, expect: int) -> float:
    cid = peer.new_id()
    rate = _drain(peer.argv("run", "--bundle", bundle, cid), expect)
    peer.live.discard(cid)  # run deletes what it made
    return rate


def measure(ctx: Context) -> Figure:
    mib = ctx.plan.stream_mib
    fig = Figure(
        key="stream",
        title=f"stdout throughput of `run` (dd of {mib} MiB into a pipe)",
        unit="MiB/s",
        higher_is_better=True,
        samples={peer.name: [] for peer in ctx.peers},
        floor_name=FLOOR,
    )
    writers: dict[str, Callable[[], float]] = {
        peer.name: partial(_contained, peer, ctx.bundles.stream, mib << 20) for peer in ctx.peers
    }
    writers[FLOOR] = partial(
        _drain, [BUSYBOX, "dd", "if=/dev/zero", "bs=1M", f"count={mib}"], mib << 20
    )
    ctx.say(f"stream: {ctx.plan.stream_rounds} rounds of {mib} MiB")
    for turn in range(ctx.plan.stream_rounds):
        for name in rotated(list(writers), turn):
            rate = writers[name]()
            (fig.floor if name == FLOOR else fig.samples[name]).append(rate)
    return fig
