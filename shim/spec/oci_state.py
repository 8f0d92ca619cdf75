"""The OCI state document hooks read on stdin (runc's key order, compact, no newline)."""

from __future__ import annotations

from shim import OCI_VERSION
from shim.json_codec import dumps


def oci_state(
    container_id: str, status: str, pid: int, bundle: str, annotations: dict[str, str]
) -> str:
    state: dict[str, object] = {"ociVersion": OCI_VERSION, "id": container_id, "status": status}
    if pid:
        state["pid"] = pid
    state["bundle"] = bundle
    if annotations:
        state["annotations"] = annotations
    return dumps(state)
