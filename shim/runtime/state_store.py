"""The state directory: `<root>/<id>/` (0711) with state.json (0600) and exec.fifo.

An id is taken by creating its directory exclusively; every mutating
operation holds an flock on that directory. state.json is written to a
temp file, fsynced and renamed, so readers never see half a file.
"""

from __future__ import annotations

import fcntl
import os

from shim.errors import AlreadyExists, Internal, InvalidConfig, NotFound
from shim.json_codec import dumps, loads

DEFAULT_ROOT = "/run/shim"
STATE_FILE = "state.json"
FIFO = "exec.fifo"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def check_id(container_id: str) -> None:
    """runc's rule: ^[\\w+-\\.]+$ and unchanged by path cleaning (so no `.` or `..`)."""
    if not container_id:
        raise InvalidConfig("container id cannot be empty")
    if container_id in (".", "..") or not set(container_id) <= _ID_CHARS:
        raise InvalidConfig("invalid container ID format")


class State:
    """What create records about a container; status is derived, never stored."""

    __slots__ = (
        "annotations",
        "bundle",
        "cgroup_created",
        "cgroup_paths",
        "config",
        "created",
        "id",
        "keyring",
        "namespace_paths",
        "pid",
        "rootfs",
        "start_time",
    )

    def __init__(
        self,
        *,
        id: str,
        pid: int,
        start_time: int,
        created: str,
        bundle: str,
        rootfs: str,
        annotations: dict[str, str],
        cgroup_paths: dict[str, str],
        cgroup_created: list[str],
        namespace_paths: dict[str, str],
        keyring: str,
        config: dict[str, object],
    ) -> None:
        self.id = id
        self.pid = pid
        self.start_time = start_time
        self.created = created
        self.bundle = bundle
        self.rootfs = rootfs
        self.annotations = annotations
        self.cgroup_paths = cgroup_paths
        self.cgroup_created = cgroup_created
        self.namespace_paths = namespace_paths
        self.keyring = keyring  # the session keyring exec joins ("" with --no-new-keyring)
        self.config = config

    def to_json(self) -> str:
        return dumps({name: getattr(self, name) for name in self.__slots__})

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> State:
        """Decode and type-check every field (a Struct's rules, without msgspec's import
        cost on `state` and `kill`). Internal error naming the file if anything is off."""
        try:
            data = loads(raw)
            if not isinstance(data, dict) or set(data) != set(cls.__slots__):
                raise ValueError("unexpected keys")
            for name, kind in _FIELD_TYPES.items():
                _check_field(name, data[name], kind)
            state = cls(**data)
        except (ValueError, TypeError) as err:
            raise Internal(f"{where}: corrupt state file: {err}") from err
        return state

    def hooks(self, kind: str) -> list[dict[str, object]]:
        hooks = self.config.get("hooks")
        found = hooks.get(kind) if isinstance(hooks, dict) else None
        return [h for h in found if isinstance(h, dict)] if isinstance(found, list) else []


# Each stored field's type: a scalar type, or (container, element type) for dicts of
# str -> element and lists of element.
_FIELD_TYPES: dict[str, type | tuple[type, type]] = {
    "id": str,
    "pid": int,
    "start_time": int,
    "created": str,
    "bundle": str,
    "rootfs": str,
    "annotations": (dict, str),
    "cgroup_paths": (dict, str),
    "cgroup_created": (list, str),
    "namespace_paths": (dict, str),
    "keyring": str,
    "config": (dict, object),
}


def _check_field(name: str, value: object, kind: type | tuple[type, type]) -> None:
    container, element = kind if isinstance(kind, tuple) else (kind, object)
    if not isinstance(value, container) or (container is int and isinstance(value, bool)):
        raise TypeError(f"{name}: expected {container.__name__}")
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        if (isinstance(value, dict) and not isinstance(key, str)) or not isinstance(item, element):
            raise TypeError(f"{name}: expected {element.__name__} values")


class ContainerDir:
    """One container's directory, opened (and locked, for mutations)."""

    __slots__ = ("fd", "id", "path")

    def __init__(self, path: str, container_id: str, fd: int) -> None:
        self.path = path
        self.id = container_id
        self.fd = fd

    def lock(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def read_state(self) -> State:
        try:
            with open(os.path.join(self.path, STATE_FILE), "rb") as f:
                return State.from_json(f.read(), self.path)
        except FileNotFoundError:
            raise NotFound("container does not exist") from None

    def has_state(self) -> bool:
        return os.path.exists(os.path.join(self.path, STATE_FILE))

    def write_state(self, state: State) -> None:
        tmp = os.path.join(self.path, f"state-{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, state.to_json().encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(self.path, STATE_FILE))

    @property
    def fifo_path(self) -> str:
        return os.path.join(self.path, FIFO)

    def remove(self) -> None:
        """Remove the directory and what is in it (only files: state, fifo, temp files)."""
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return
        for name in names:
            try:
                os.unlink(os.path.join(self.path, name))
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.path)
        except FileNotFoundError:
            pass


class StateStore:
    """`--root`: where every container's directory lives."""

    __slots__ = ("root",)

    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.root = os.path.abspath(root)

    def ensure_root(self) -> None:
        try:
            os.makedirs(self.root, 0o700, exist_ok=True)
        except OSError as err:
            raise Internal(f"mkdir {self.root}: {err.strerror}") from err

    def claim(self, container_id: str) -> ContainerDir:
        """Take the id: exclusive mkdir, then lock. AlreadyExists if taken."""
        check_id(container_id)
        self.ensure_root()
        path = os.path.join(self.root, container_id)
        try:
            os.mkdir(path, 0o711)
        except FileExistsError:
            raise AlreadyExists("container with given ID already exists") from None
        except OSError as err:
            raise Internal(f"mkdir {path}: {err.strerror}") from err
        os.chmod(path, 0o711)  # not subject to the umask
        cdir = ContainerDir(
            path, container_id, os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        )
        cdir.lock()
        return cdir

    def open(self, container_id: str, lock: bool = False) -> ContainerDir:
        """An existing container's directory; NotFound if there is none."""
        check_id(container_id)
        path = os.path.join(self.root, container_id)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound("container does not exist") from None
        cdir = ContainerDir(path, container_id, fd)
        if lock:
            cdir.lock()
        return cdir

    def read(self, container_id: str) -> State:
        """A container's state, read without a lock (writers rename, so it is never half
        a file); NotFound if there is no such container."""
        cdir = self.open(container_id)
        try:
            return cdir.read_state()
        finally:
            cdir.close()

    def fifo_path(self, container_id: str) -> str:
        return os.path.join(self.root, container_id, FIFO)

    def ids(self) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.root) if e.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            return []
