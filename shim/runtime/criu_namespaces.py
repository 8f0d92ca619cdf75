"""How the container's namespaces are described to criu, as runc describes them.

made by the container          dumped and restored by criu itself
network/pid joined by path     left out at dump (`--external net[inode]:extRootNetNS`),
                               handed back at restore as inherited fds with those keys
others joined by path          joined again at restore (join_ns); a cgroup namespace
                               cannot be (criu has no code for it): refused
time, after a restore          criu restores into a time namespace of its own: the
                               state records it so that `exec` joins it too
"""

from __future__ import annotations

import os

from shim.errors import InvalidConfig, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.spec.model import Namespace, Spec

NS_KEYS = {"network": "extRootNetNS", "pid": "extRootPidNS"}  # runc's inherit_fd keys
NS_NAMES = {"network": "net", "pid": "pid"}  # criu's names in --external
JOIN_NS = {"ipc": "ipc", "uts": "uts", "mount": "mnt", "user": "user", "time": "time"}
FIRST_EXTRA_FD = 4  # criu's fds 0-2 are stdio, 3 the swrk socket


def _namespaces(spec: Spec) -> list[Namespace]:
    return spec.linux.namespaces if spec.linux else []


def external_at_dump(spec: Spec) -> dict[str, int]:
    """Network and pid namespaces joined by path: type -> inode, for `external`."""
    found: dict[str, int] = {}
    for ns in _namespaces(spec):
        if ns.path and ns.type in NS_KEYS:
            try:
                found[ns.type] = os.stat(ns.path).st_ino
            except OSError as err:
                reason = (err.strerror or str(err)).lower()
                raise InvalidConfig(f"linux.namespaces: stat {ns.path}: {reason}") from None
    return found


def check_restorable(spec: Spec) -> None:
    for ns in _namespaces(spec):
        if ns.path and ns.type == "cgroup":  # runc refuses it too
            raise Unsupported("linux.namespaces: restore cannot join a cgroup namespace by path")


def external_at_restore(spec: Spec) -> tuple[list[int], list[tuple[str, int]]]:
    """The fds of the namespaces left out at dump (criu gets them as fds 4, 5, ...) and
    the (key, fd in criu) pairs naming them. The caller closes the fds."""
    fds: list[int] = []
    keys: list[tuple[str, int]] = []
    for ns in _namespaces(spec):
        if not (ns.path and ns.type in NS_KEYS):
            continue
        try:
            fds.append(os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC))
        except OSError as err:
            for fd in fds:
                os.close(fd)
            raise InvalidConfig(
                f"Requested {ns.type} namespace {ns.path} does not exist: {err.strerror}"
            ) from None
        keys.append((NS_KEYS[ns.type], FIRST_EXTRA_FD + len(keys)))
    return fds, keys


def joined_at_restore(spec: Spec) -> list[tuple[str, str]]:
    """(criu's name, path) of the other namespaces joined by path."""
    return [
        (JOIN_NS[ns.type], ns.path) for ns in _namespaces(spec) if ns.path and ns.type in JOIN_NS
    ]


def restored_namespaces(spec: Spec, pid: int) -> dict[str, str]:
    """type -> path ("" for one of its own) of the restored init's namespaces, with the
    time namespace criu made (if it did: it differs from ours)."""
    found = {ns.type: ns.path for ns in _namespaces(spec)}
    if "time" not in found and _ns_inode(pid, "time") != _ns_inode(os.getpid(), "time"):
        found["time"] = ""
    return found


def _ns_inode(pid: int, kind: str) -> int:
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except OSError:
        return 0
