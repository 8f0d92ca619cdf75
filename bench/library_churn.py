"""The library in one long-lived process: `python -m bench.library_churn --root R --bundle B`.

Stands in for the supervisor we do not have yet: it imports `shim.runtime.api.Runtime`
and runs create/start/wait/delete cycles in-process, sampling its own fd count and RSS
every `--every` cycles (a leak shows as growth). Prints one LibraryResult as JSON.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import time

import msgspec

from bench.model import LibraryResult, LibrarySample
from bench.proc import fd_count, vm_rss_kb

WAIT_MS = 60_000


def _sample(cycle: int) -> LibrarySample:
    return LibrarySample(cycle=cycle, fds=fd_count(), rss_kb=vm_rss_kb("self"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.library_churn")
    parser.add_argument("--root", required=True)
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--every", type=int, default=100)
    args = parser.parse_args(argv)

    t0 = time.perf_counter_ns()
    from shim.runtime.api import Runtime, reap

    import_ms = (time.perf_counter_ns() - t0) / 1e6
    runtime = Runtime(args.root)
    samples, cycle_ms = [_sample(0)], []
    for i in range(args.cycles):
        cid = f"lib-{os.getpid()}-{i}"
        t0 = time.perf_counter_ns()
        try:
            runtime.create(cid, args.bundle)
            pidfd = runtime.pidfd(cid)
            try:
                runtime.start(cid)
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                if not poller.poll(WAIT_MS):
                    raise TimeoutError(f"container {cid} did not exit")
                reap(pidfd)
            finally:
                os.close(pidfd)
            runtime.delete(cid)
        except BaseException:
            runtime.delete(cid, force=True)
            raise
        cycle_ms.append((time.perf_counter_ns() - t0) / 1e6)
        if (i + 1) % args.every == 0:
            samples.append(_sample(i + 1))
    result = LibraryResult(
        cycles=args.cycles, import_ms=import_ms, cycle_ms=cycle_ms, samples=samples
    )
    sys.stdout.buffer.write(msgspec.json.encode(result) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
