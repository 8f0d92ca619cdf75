"""`python -m bench.shim_start [--rounds N]`: the shim `start` action, ours against runc-v2's.

`start` runs for every new container (or pod): containerd execs the shim binary, waits
for it to print the socket address and exit. This times exactly that, per round in a
fresh bundle, for `containerd-shim-pyshim-v1` and `containerd-shim-runc-v2` alike,
then shuts the daemon down over ttrpc (our client, containerd's Shutdown) and waits
for it to exit. Like containerd, it holds the read end of the bundle's `log` fifo
(runc-v2's daemon blocks opening it otherwise). Prints one JSON object: per shim the
median and p90 wall time in ms, and pyshim/runc-v2. Needs root (/run/containerd/s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from google.protobuf.empty_pb2 import Empty

from shim.shimv2.proto import shim_pb2
from shim.shimv2.ttrpc_client import ClosedError, open_client

TASK = "containerd.task.v2.Task"
PYSHIM = str(Path(sys.executable).with_name("containerd-shim-pyshim-v1"))


async def _shutdown(path: str, cid: str) -> int:
    with anyio.fail_after(10):
        async with open_client(path) as client:
            reply = await client.call(
                TASK, "Connect", shim_pb2.ConnectRequest(id=cid), shim_pb2.ConnectResponse
            )
            try:
                await client.call(TASK, "Shutdown", shim_pb2.ShutdownRequest(id=cid), Empty)
            except ClosedError:  # runc-v2 may exit before its reply is out; containerd allows it
                pass
    return reply.shim_pid


def _wait_gone(pid: int, path: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.005)
    else:
        raise RuntimeError(f"shim daemon {pid} did not exit after Shutdown")
    if os.path.exists(path):  # runc-v2 leaves it to containerd's delete
        os.unlink(path)


def one_start(binary: str, root: Path, cid: str) -> float:
    """Seconds of one `start`; the daemon it started is shut down before returning."""
    bundle = root / cid
    bundle.mkdir()
    (bundle / "config.json").write_text('{"ociVersion": "1.0.2", "annotations": {}}')
    os.mkfifo(bundle / "log")
    reader = os.open(bundle / "log", os.O_RDWR | os.O_NONBLOCK)  # containerd's end
    argv = [binary, "-namespace", "bench", "-address", str(root / "containerd.sock")]
    argv += ["-publish-binary", "/bin/false", "-id", cid, "start"]
    try:
        began = time.perf_counter()
        result = subprocess.run(
            argv, cwd=bundle, stdin=subprocess.DEVNULL, capture_output=True, timeout=30, check=True
        )
        elapsed = time.perf_counter() - began
        path = result.stdout.decode().strip().removeprefix("unix://")
        pid = anyio.run(_shutdown, path, cid)
        _wait_gone(pid, path)
    finally:
        os.close(reader)
    return elapsed


def measure(rounds: int) -> dict[str, object]:
    runc_v2 = shutil.which("containerd-shim-runc-v2")
    shims = {"pyshim": PYSHIM} | ({"runc_v2": runc_v2} if runc_v2 else {})
    times: dict[str, list[float]] = {name: [] for name in shims}
    # /run, as containerd's state dir (tmpfs): both shims fsync the address file
    root = Path(tempfile.mkdtemp(prefix="bench-shim-start-", dir="/run"))
    try:
        for n in range(rounds):  # interleaved, so both see the same machine load
            for name, binary in shims.items():
                times[name].append(one_start(binary, root, f"{name}-{n}") * 1000)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    floor = []
    for _ in range(rounds):  # the interpreter alone: what any Python `start` pays first
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=30)
        floor.append((time.perf_counter() - began) * 1000)
    out: dict[str, object] = {
        "rounds": rounds,
        "python_floor_ms": round(statistics.median(floor), 2),
    }
    for name, samples in times.items():
        ordered = sorted(samples)
        out[f"{name}_ms"] = round(statistics.median(ordered), 2)
        out[f"{name}_p90_ms"] = round(ordered[int(0.9 * (len(ordered) - 1))], 2)
    if "runc_v2_ms" in out:
        out["ratio"] = round(float(str(out["pyshim_ms"])) / float(str(out["runc_v2_ms"])), 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    print(json.dumps(measure(args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
