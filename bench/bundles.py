"""The busybox bundle every runtime runs, built once by `shim spec --busybox`.

Each workload (`true`, `sleep`, `dd ...`) is a bundle directory of its own holding
only a config.json whose root.path points at the one shared, read-only rootfs, so
every runtime runs the very same files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import msgspec

from bench import proc

BUSYBOX = "/bin/busybox"
COUNTER = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.2; done"


@dataclass(frozen=True)
class Bundles:
    true: str  # `true`: the lifecycle figures
    sleep: str  # a long sleep: the container that exec goes into
    stream: str  # `dd` of the stream size to stdout
    counter: str  # prints 1, 2, 3... every 0.2 s: the checkpoint/restore figures

    @property
    def all(self) -> tuple[str, ...]:
        return (self.true, self.sleep, self.stream, self.counter)


def build(shim: str, workdir: str, stream_mib: int) -> Bundles:
    base = os.path.join(workdir, "busybox")
    proc.run([shim, "spec", "--busybox", "--bundle", base])
    with open(os.path.join(base, "config.json"), "rb") as f:
        config = msgspec.json.decode(f.read(), type=dict[str, object])
    rootfs = os.path.join(base, "rootfs")

    def variant(name: str, args: list[str]) -> str:
        bundle = os.path.join(workdir, name)
        os.mkdir(bundle)
        process = config["process"]
        root = config["root"]
        if not isinstance(process, dict) or not isinstance(root, dict):
            raise proc.BenchError(f"{base}/config.json: no process or root object")
        edited = {**config, "process": {**process, "args": args}, "root": {**root, "path": rootfs}}
        with open(os.path.join(bundle, "config.json"), "wb") as f:
            f.write(msgspec.json.encode(edited))
        return bundle

    return Bundles(
        true=variant("true", ["true"]),
        sleep=variant("sleep", ["sleep", "3600"]),
        stream=variant("stream", ["dd", "if=/dev/zero", "bs=1M", f"count={stream_mib}"]),
        counter=variant("counter", ["sh", "-c", COUNTER]),
    )
