"""Which shim process a container belongs to, and the socket it is served on (spec 4.1, 4.2).

containerd dials `unix:///run/containerd/s/<sha256 hex of <grpc>/<namespace>/<group>>`.
The group key is the first annotation present among `io.containerd.runc.v2.group`
and `io.kubernetes.cri.sandbox-id` (runc-v2's rule: a pod's containers share one
shim), else the container id. Ours adds grouping by namespace: one warm shim for
every container of a namespace, asked for by the shim config (`group = "namespace"`)
or per container by the annotation `io.containerd.pyshim.v1.group = namespace`.

No imports beyond what `start` already has: this runs on every container start.
"""

from __future__ import annotations

SOCKET_DIR = "/run/containerd/s"  # hard-coded in containerd 1.x, whatever --state says
SOCKET_PATH_LIMIT = 106  # containerd's socketPathLimit (sun_path is 108)
GROUP_ANNOTATIONS = ("io.containerd.runc.v2.group", "io.kubernetes.cri.sandbox-id")
GROUP_BY_ANNOTATION = "io.containerd.pyshim.v1.group"
GROUP_BY = ("sandbox", "namespace")
# Not a container id (containerd ids are [A-Za-z0-9_.-]), so it never meets one's hash.
NAMESPACE_GROUP = "@namespace"


def group_key(annotations: dict[str, str], container_id: str, group_by: str) -> str:
    """The group of a container. `group_by` is the shim config's ("sandbox" default).

    Raises ValueError for an unknown grouping mode.
    """
    mode = annotations.get(GROUP_BY_ANNOTATION, group_by) or "sandbox"
    if mode not in GROUP_BY:
        raise ValueError(
            f"{GROUP_BY_ANNOTATION}: unknown grouping {mode!r}: want sandbox or namespace"
        )
    if mode == "namespace":
        return NAMESPACE_GROUP
    for key in GROUP_ANNOTATIONS:
        if annotations.get(key):
            return annotations[key]
    return container_id


def _go_join(*parts: str) -> str:
    # filepath.Join: the non-empty parts joined by "/", then Clean (no .. to resolve here:
    # the address is an absolute socket path and ids carry no slashes)
    joined = "/".join(p for p in parts if p)
    rooted = joined.startswith("/")
    kept = [p for p in joined.split("/") if p and p != "."]
    return ("/" if rooted else "") + "/".join(kept)


def socket_path(grpc_address: str, namespace: str, group: str) -> str:
    """/run/containerd/s/<hex>. Raises ValueError past the unix socket path limit."""
    from _sha256 import sha256  # hashlib costs ~3 ms of start-up

    digest = sha256(_go_join(grpc_address, namespace, group).encode()).hexdigest()
    path = f"{SOCKET_DIR}/{digest}"
    if len(path) > SOCKET_PATH_LIMIT:
        raise ValueError(f"socket path {path!r} exceeds {SOCKET_PATH_LIMIT} bytes")
    return path
