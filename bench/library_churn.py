"""The library in one long-lived process: `python -m bench.library_churn --root R --bundle B`.

Drives the supervisor (`shim.supervisor.supervisor.Supervisor`, on asyncio) through
create/start/wait/delete cycles in-process, sampling its own fd count and RSS every
`--every` cycles (a leak shows as growth). Prints one LibraryResult as JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import msgspec

from bench.model import LibraryResult, LibrarySample
from bench.proc import fd_count, vm_rss_kb

WAIT_S = 60.0


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
    import anyio

    from shim.supervisor.supervisor import Supervisor

    import_ms = (time.perf_counter_ns() - t0) / 1e6
    samples, cycle_ms = [_sample(0)], []

    async def cycles() -> None:
        async with Supervisor.open(args.root) as sup:
            for i in range(args.cycles):
                cid = f"lib-{os.getpid()}-{i}"
                t0 = time.perf_counter_ns()
                try:
                    with anyio.fail_after(WAIT_S):
                        await sup.create(cid, args.bundle)
                        await sup.start(cid)
                        await sup.wait(cid)
                        await sup.delete(cid)
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        await sup.delete(cid, force=True)
                    raise
                cycle_ms.append((time.perf_counter_ns() - t0) / 1e6)
                if (i + 1) % args.every == 0:
                    samples.append(_sample(i + 1))

    anyio.run(cycles)
    result = LibraryResult(
        cycles=args.cycles, import_ms=import_ms, cycle_ms=cycle_ms, samples=samples
    )
    sys.stdout.buffer.write(msgspec.json.encode(result) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
