"""A busybox OCI image tarball built by hand (no network): CRI's sandbox image, ctr's workload.

Layout (OCI image-layout 1.0, what `ctr image import` reads):
    oci-layout, index.json (one manifest, named by io.containerd.image.name),
    blobs/sha256/<layer tar> <config json> <manifest json>
The layer holds /bin/busybox and its applets as symlinks, plus the few files a container
expects (/etc/passwd, /tmp); the config's Entrypoint is what the image runs.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

APPLETS = (
    "sh", "sleep", "echo", "cat", "true", "false", "ls", "ps", "id", "hostname", "env",
    "dd", "head",
)  # fmt: skip


def _tar_add(
    tar: tarfile.TarFile,
    name: str,
    data: bytes | None = None,
    *,
    kind: bytes = tarfile.REGTYPE,
    mode: int = 0o644,
    link: str = "",
) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.linkname = kind, mode, 0, link
    info.uid = info.gid = 0
    if data is not None:
        info.size = len(data)
    tar.addfile(info, io.BytesIO(data) if data is not None else None)


def layer(busybox: Path) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root"):
            _tar_add(tar, d, kind=tarfile.DIRTYPE, mode=0o1777 if d == "tmp" else 0o755)
        _tar_add(tar, "bin/busybox", busybox.read_bytes(), mode=0o755)
        for applet in APPLETS:
            _tar_add(tar, f"bin/{applet}", kind=tarfile.SYMTYPE, link="busybox", mode=0o777)
        _tar_add(
            tar, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n"
        )
        _tar_add(tar, "etc/group", b"root:x:0:\nnobody:x:65534:\n")
    return out.getvalue()


def _blob(blobs: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def build_image(
    out: Path, name: str, entrypoint: list[str], busybox: Path = Path("/bin/busybox")
) -> Path:
    """Write the OCI archive of a busybox image named `name` to `out`; returns `out`."""
    work = out.with_suffix(".d")
    blobs = work / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layer_bytes = layer(busybox)
    layer_desc = {
        "mediaType": "application/vnd.oci.image.layer.v1.tar",
        **_blob(blobs, layer_bytes),
    }
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": entrypoint, "Env": ["PATH=/bin"], "WorkingDir": "/"},
        "rootfs": {
            "type": "layers",
            "diff_ids": [f"sha256:{hashlib.sha256(layer_bytes).hexdigest()}"],
        },
    }
    config_desc = {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        **_blob(blobs, json.dumps(config).encode()),
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": [layer_desc],
    }
    manifest_desc = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        **_blob(blobs, json.dumps(manifest).encode()),
        "platform": {"architecture": "amd64", "os": "linux"},
        "annotations": {"io.containerd.image.name": name},
    }
    (work / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [manifest_desc]}))
    (work / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    with tarfile.open(out, "w") as tar:
        for path in sorted(work.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(work)), recursive=False)
    return out
