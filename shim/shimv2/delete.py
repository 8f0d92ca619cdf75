"""`delete`: clean up after a shim that is gone, print a DeleteResponse, exit 0 (spec section 5).

containerd runs it after every disconnect (1.6), at boot for shims it cannot reach,
and after a crash; it must be idempotent and cheap. It force-deletes the container
with the runtime library (kills what is left; the state root is the one `start` wrote
to <bundle>/runtime-root), unmounts <bundle>/rootfs, removes the group's
socket when no shim answers on it any more (a SIGKILLed shim leaves it behind), and
writes `DeleteResponse{pid from init.pid, exit_status 137, exited_at now}` to stdout.
What fails is a warning on stderr (containerd logs it as "cleanup warnings"); the
exit status stays 0 unless the command line is wrong.
"""

from __future__ import annotations

import os
import time

from shim.logs import Logger
from shim.shimv2.flags import Flags
from shim.shimv2.options_wire import ShimOptions
from shim.shimv2.start import ADDRESS_FILE, RUNTIME_ROOT_FILE, answers

SIGKILL_STATUS = 128 + 9  # what runc-v2 reports, whatever the process really did


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_delete_response(pid: int, exit_status: int, when_ns: int) -> bytes:
    """containerd.task.v2.DeleteResponse, hand-encoded (protobuf would cost delete ~15 ms)."""
    secs, nanos = divmod(when_ns, 10**9)
    stamp = (b"\x08" + _varint(secs) if secs else b"") + (
        b"\x10" + _varint(nanos) if nanos else b""
    )
    out = b"\x08" + _varint(pid) if pid else b""
    out += b"\x10" + _varint(exit_status) if exit_status else b""
    return out + b"\x1a" + _varint(len(stamp)) + stamp


def _read(path: str) -> str:
    try:
        with open(path) as file:
            return file.read().strip()
    except OSError:
        return ""


def _runtime_root(bundle: str, namespace: str) -> str:
    return _read(os.path.join(bundle, RUNTIME_ROOT_FILE)) or ShimOptions().root_for(namespace)


def _delete_container(root: str, container_id: str, log: Logger) -> None:
    # The library's force delete, as `shim delete --force` runs it: no supervisor here,
    # a one-shot Reaper waits on what it kills.
    from shim.errors import ShimError
    from shim.runtime.delete import delete_container
    from shim.runtime.state_store import StateStore
    from shim.supervisor.reaper import Reaper

    try:
        delete_container(StateStore(root), container_id, Reaper(), force=True)
    except (ShimError, OSError) as err:  # usually: already gone, as the daemon deleted it
        log.warning(f"failed to remove container: {err}", id=container_id)


def _unmount_rootfs(bundle: str, log: Logger) -> None:
    from shim.sys import unmount_detach

    rootfs = os.path.join(bundle, "rootfs")
    try:
        while unmount_detach(rootfs):  # stacked mounts: until nothing is left there
            pass
    except OSError as err:
        log.warning(f"failed to cleanup rootfs mount: {err}")


def _remove_dead_socket(bundle: str, log: Logger) -> None:
    address = _read(os.path.join(bundle, ADDRESS_FILE))
    path = address.removeprefix("unix://")
    if not address.startswith("unix://") or not os.path.exists(path) or answers(path):
        return  # another container of the group may still be served there
    try:
        os.unlink(path)
    except OSError as err:
        log.warning(f"failed to remove shim socket {path}: {err.strerror}")


def delete(flags: Flags, log: Logger) -> bytes:
    """Clean up; the DeleteResponse bytes for stdout."""
    bundle = flags.bundle or os.getcwd()
    root = _runtime_root(bundle, flags.namespace)
    # After a clean Delete (always, on 1.6: it runs after every disconnect) the state dir
    # is gone already: then the runtime need not even be imported (~30 ms of every run).
    if os.path.lexists(os.path.join(root, flags.id)):
        _delete_container(root, flags.id, log)
    if os.path.ismount(os.path.join(bundle, "rootfs")):
        _unmount_rootfs(bundle, log)
    _remove_dead_socket(bundle, log)
    pid_text = _read(os.path.join(bundle, "init.pid"))
    pid = int(pid_text) if pid_text.isdigit() else 0
    return encode_delete_response(pid, SIGKILL_STATUS, time.time_ns())
