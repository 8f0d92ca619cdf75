"""A fake containerd's side of the shim binary: bundles, `start`, and finding the daemons
(tests/shimv2/conftest.py's `env` fixture cleans up after each test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BINARY = str(Path(sys.executable).with_name("containerd-shim-pyshim-v1"))
TIMEOUT = 20


def daemons_of(address: str) -> list[int]:
    """Pids of shim daemons started for our fake containerd address: exec'd by `start`
    (the address is in their argv) or forked by the zygote (their cwd is one of our
    bundles, beside the address)."""
    root = os.path.dirname(address) + "/"
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if b"containerd-shim-pyshim-v1" not in b" ".join(cmdline[:2]):
                continue
            if {b"start", b"delete"} & set(cmdline[2:]):
                continue
            if address.encode() in cmdline or (b"-zygote" in cmdline and cwd.startswith(root)):
                pids.append(int(entry))
    return pids


class Env:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.address = str(root / "containerd.sock")  # never served: only hashed
        self.sockets: set[str] = set()

    def bundle(self, cid: str, annotations: dict[str, str] | None = None) -> Path:
        bundle = self.root / cid
        bundle.mkdir()
        spec = {"ociVersion": "1.0.2", "annotations": annotations or {}}
        (bundle / "config.json").write_text(json.dumps(spec))
        os.mkfifo(bundle / "log")
        return bundle

    def run(
        self, bundle: Path, cid: str, *action: str, stdin: bytes = b""
    ) -> subprocess.CompletedProcess[bytes]:
        argv = [
            BINARY,
            "-namespace",
            "default",
            "-address",
            self.address,
            "-publish-binary",
            "/bin/false",
        ]
        argv += ["-id", cid, *action]
        return subprocess.run(
            argv, cwd=bundle, input=stdin, capture_output=True, timeout=TIMEOUT, check=False
        )

    def start(self, bundle: Path, cid: str, stdin: bytes = b"") -> str:
        result = self.run(bundle, cid, "start", stdin=stdin)
        assert result.returncode == 0, result.stderr
        address = result.stdout.decode()
        assert address.startswith("unix:///run/containerd/s/")
        self.sockets.add(address.removeprefix("unix://"))
        return address
