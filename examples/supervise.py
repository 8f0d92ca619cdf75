"""Run N containers of one bundle at once in one process, and report how each ended.

    python examples/supervise.py BUNDLE N [--backend asyncio|trio] [--root DIR]

Each container gets its own stdout (a pipe this program reads); the program waits for
all of them, deletes them, and prints one JSON line per container:

    {"id": "demo-0", "exit_status": 0, "stdout": "hello\\n"}

Needs root (namespaces, cgroups). BUNDLE is an OCI bundle, e.g. from
`shim spec --busybox --bundle /tmp/bb` with a process that exits by itself.
"""

from __future__ import annotations

import argparse
import json
import os

import anyio

from shim.supervisor.supervisor import Supervisor


async def read_all(fd: int) -> bytes:
    """Everything written to the pipe until its last writer closes it."""
    data = b""
    os.set_blocking(fd, False)
    while True:
        await anyio.wait_readable(fd)
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            continue
        if not chunk:
            return data
        data += chunk


async def run_one(sup: Supervisor, container_id: str, bundle: str) -> dict[str, object]:
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        # The container's stdin and stderr are /dev/null, its stdout our pipe.
        await sup.create(container_id, bundle, stdio=(null, out_w, null))
    finally:
        os.close(out_w)  # the container has its own copy now
        os.close(null)
    try:
        await sup.start(container_id)
        stdout = await read_all(out_r)
        exit_ = await sup.wait(container_id)
    finally:
        os.close(out_r)
        await sup.delete(container_id, force=True)
    return {"id": container_id, "exit_status": exit_.status, "stdout": stdout.decode()}


async def main(bundle: str, count: int, root: str) -> None:
    results: list[dict[str, object]] = []
    async with Supervisor.open(root) as sup:

        async def one(i: int) -> None:
            results.append(await run_one(sup, f"demo-{os.getpid()}-{i}", bundle))

        async with anyio.create_task_group() as tg:
            for i in range(count):
                tg.start_soon(one, i)
    for result in sorted(results, key=lambda r: str(r["id"])):
        print(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("count", type=int)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--root", default="/run/shim-examples")
    args = parser.parse_args()
    anyio.run(main, os.path.abspath(args.bundle), args.count, args.root, backend=args.backend)
