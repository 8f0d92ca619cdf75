"""validate_spec: refuse a config.json runc would refuse, before anything is made.

Modelled on runc's `validateProcessSpec` and libcontainer/configs/validate; where runc
has a message we use its text, otherwise the message starts with the field's path
(`linux.namespaces[2].type: unknown namespace "foo"`). The first failing rule wins.
"""

from __future__ import annotations

import os
import posixpath

from shim.errors import InvalidConfig
from shim.spec.kernel_names import DEVICE_TYPES, NAMESPACES, PROPAGATIONS
from shim.spec.model import Hook, IDMapping, Linux, Spec
from shim.spec.process_rules import ID_MAX, ID_RANGE, check_id, quote, validate_process

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Final

# Only the IPC namespace isolates these (runc's list); fs.mqueue.* too.
_IPC_SYSCTLS: Final = frozenset(
    (
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    )
)
_TIME_CLOCKS: Final = frozenset({"monotonic", "boottime"})
_DEV_MAX: Final = (1 << 32) - 1  # makedev(3) takes 32-bit majors and minors


def validate_spec(spec: Spec) -> None:
    """Raise InvalidConfig, naming the field, for the first rule `spec` breaks."""
    validate_process(spec.process)
    linux = spec.linux or Linux()
    kinds = {ns.type for ns in linux.namespaces}
    for check in _CHECKS:
        check(spec, linux, kinds)


def _root(spec: Spec, linux: Linux, kinds: set[str]) -> None:
    if spec.root is None:
        raise InvalidConfig("root must be specified")
    if not spec.root.path:
        raise InvalidConfig("root.path: must not be empty")


def _namespaces(spec: Spec, linux: Linux, kinds: set[str]) -> None:
    seen: set[str] = set()
    for i, ns in enumerate(linux.namespaces):
        where = f"linux.namespaces[{i}]"
        if ns.type not in NAMESPACES:
            raise InvalidConfig(f"{where}.type: unknown namespace {quote(ns.type)}")
        if ns.type in seen:
            raise InvalidConfig(f"{where}.type: duplicate namespace {quote(ns.type)}")
        seen.add(ns.type)
        if ns.path and not posixpath.isabs(ns.path):
            raise InvalidConfig(f"{where}.path: {quote(ns.path)} is not an absolute path")
    if (linux.uid_mappings or linux.gid_mappings) and "user" not in kinds:
        raise InvalidConfig(
            "User namespace mappings specified, but USER namespace isn't enabled in the config"
        )
    if linux.time_offsets and "time" not in kinds:
        raise InvalidConfig(
            "time namespace offsets specified, but time namespace isn't enabled in the config"
        )
    for clock in linux.time_offsets:
        if clock not in _TIME_CLOCKS:
            raise InvalidConfig(f"linux.timeOffsets: unknown clock {quote(clock)}")


def _id_maps(spec: Spec, linux: Linux, kinds: set[str]) -> None:
    _check_maps("linux.uidMappings", linux.uid_mappings)
    _check_maps("linux.gidMappings", linux.gid_mappings)
    for i, mount in enumerate(spec.mounts):
        _check_maps(f"mounts[{i}].uidMappings", mount.uid_mappings)
        _check_maps(f"mounts[{i}].gidMappings", mount.gid_mappings)


def _check_maps(where: str, maps: list[IDMapping]) -> None:
    """Each range, on both sides, within the ids a process may hold (runc's maxID)."""
    for i, idmap in enumerate(maps):
        if idmap.size == 0:
            raise InvalidConfig(f"{where}[{i}].size: must be greater than zero")
        for name, start in (("containerID", idmap.container_id), ("hostID", idmap.host_id)):
            last = start + idmap.size - 1
            if last > ID_MAX:
                raise InvalidConfig(
                    f"{where}[{i}]: {ID_RANGE} ({name} {start} + size {idmap.size} ends at {last})"
                )


def _mounts(spec: Spec, linux: Linux, kinds: set[str]) -> None:
    # runc 1.1 only warns and mounts a relative destination under /; OCI says MUST be absolute.
    for i, mount in enumerate(spec.mounts):
        if not posixpath.isabs(mount.destination):
            raise InvalidConfig(
                f"mounts[{i}].destination: {quote(mount.destination)} is not an absolute path"
            )


def _devices(spec: Spec, linux: Linux, kinds: set[str]) -> None:
    for i, device in enumerate(linux.devices):
        where = f"linux.devices[{i}]"
        if device.type not in DEVICE_TYPES:
            raise InvalidConfig(f"{where}.type: unknown device type {quote(device.type)}")
        if not posixpath.isabs(device.path):
            raise InvalidConfig(f"{where}.path: {quote(device.path)} is not an absolute path")
        for name, number in (("major", device.major), ("minor", device.minor)):
            if number is not None and not 0 <= number <= _DEV_MAX:
                raise InvalidConfig(f"{where}.{name}: {number} is not a device number")
        for name, owner in (("uid", device.uid), ("gid", device.gid)):
            if owner is not None:
                check_id(owner, f"{where}.{name}")


def _hooks(spec: Spec, linux: Linux, kinds: set[str]) -> None:
    if spec.hooks is None:
        return
    kinds_of_hooks: dict[str, list[Hook]] = {
        "prestart": spec.hooks.prestart,
        "createRuntime": spec.hooks.create_runtime,
        "createContainer": spec.hooks.create_container,
        "startContainer": spec.hooks.start_container,
        "poststart": spec.hooks.poststart,
        "poststop": spec.hooks.poststop,
    }
    for kind, hooks in kinds_of_hooks.items():
        for i, hook in enumerate(hooks):
            where = f"hooks.{kind}[{i}]"
            if not posixpath.isabs(hook.path):
                raise InvalidConfig(f"{where}.path: {quote(hook.path)} is not an absolute path")
            if hook.timeout is not None and hook.timeout <= 0:
                raise InvalidConfig(f"{where}.timeout: must be greater than zero")


def _uts(spec: Spec, linux: Linux, kinds: set[str]) -> None:
    if spec.hostname and "uts" not in kinds:
        raise InvalidConfig("unable to set hostname without a private UTS namespace")
    if spec.domainname and "uts" not in kinds:
        raise InvalidConfig("unable to set domainname without a private UTS namespace")


def _security(spec: Spec, linux: Linux, kinds: set[str]) -> None:
    if (linux.masked_paths or linux.readonly_paths) and "mount" not in kinds:
        raise InvalidConfig("unable to restrict sys entries without a private MNT namespace")


def _propagation(spec: Spec, linux: Linux, kinds: set[str]) -> None:
    value = linux.rootfs_propagation
    if value and value not in PROPAGATIONS:
        raise InvalidConfig(f"linux.rootfsPropagation: unknown propagation {quote(value)}")


def _sysctls(spec: Spec, linux: Linux, kinds: set[str]) -> None:
    """/proc/sys is only partly namespaced: allow what the namespaces asked for isolate."""
    host_net: bool | None = None
    for key in linux.sysctl:
        parts = sysctl_path(key).split("/")
        if any(part in ("", ".", "..") for part in parts):  # a path, not a walk out of it
            raise InvalidConfig(f"linux.sysctl: invalid key {quote(key)}")
        name = _dotted(key)
        if name in _IPC_SYSCTLS or name.startswith("fs.mqueue."):
            if "ipc" in kinds:
                continue
            raise InvalidConfig(f"sysctl {quote(name)} is not allowed in the hosts ipc namespace")
        if name.startswith("net."):
            if host_net is None:
                host_net = _in_host_netns(linux)
            if host_net:
                raise InvalidConfig(f"sysctl {quote(name)} not allowed in host network namespace")
            continue
        if "uts" in kinds and name == "kernel.domainname":
            continue  # namespaced, and no OCI field of its own
        if "uts" in kinds and name == "kernel.hostname":
            raise InvalidConfig(
                f'sysctl {quote(name)} is not allowed as it conflicts with the OCI "hostname" field'
            )
        raise InvalidConfig(f"sysctl {quote(name)} is not in a separate kernel namespace")


def _dotted(key: str) -> str:
    """sysctl(8) accepts `net/ipv4/conf/eno2.100/rp_filter`: swap `/` and `.` then."""
    if not _slashed(key):
        return key
    return key.translate(str.maketrans("./", "/."))


def _slashed(key: str) -> bool:
    """Whether the key separates with `/` (then a `.` belongs to a name, like eth0.100)."""
    seps = [i for i in (key.find("."), key.find("/")) if i >= 0]
    return bool(seps) and key[min(seps)] == "/"


def sysctl_path(key: str) -> str:
    """The file under /proc/sys for a sysctl key: dots become slashes, except in a key
    that already uses slashes, where they are part of a name (`conf/lo.0/forwarding`)."""
    return key if _slashed(key) else key.replace(".", "/")


def _in_host_netns(linux: Linux) -> bool:
    """Whether the container shares our network namespace ("host" means "current")."""
    paths = [ns.path for ns in linux.namespaces if ns.type == "network"]
    if not paths:
        return True
    if not paths[0]:
        return False
    try:
        ours, theirs = os.stat("/proc/self/ns/net"), os.stat(paths[0])
    except OSError as err:
        raise InvalidConfig(
            f"invalid netns path: stat {err.filename}: {os.strerror(err.errno or 0)}"
        ) from err
    return (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino)


_CHECKS: Final[tuple[Callable[[Spec, Linux, set[str]], None], ...]] = (
    _root,
    _namespaces,
    _id_maps,
    _mounts,
    _devices,
    _hooks,
    _uts,
    _security,
    _propagation,
    _sysctls,
)
