"""Reading and writing cgroup files: one value per write, errors that name the file.

`write` raises `CgroupError` with the field of `linux.resources` it was for, so a
refusal from the kernel reads `linux.resources.memory.limit: write 1 to <file>: ...`.
Missing files read as None: a controller file the kernel lacks is not an error here.
"""

from __future__ import annotations

import errno
import os

from shim.errors import CgroupError

MISSING = (errno.ENOENT, errno.ENODEV)
MAX_U64 = (1 << 64) - 1


def read(path: str) -> str | None:
    """The file's text, or None if it (or its directory) does not exist."""
    try:
        with open(path, "rb") as f:  # bytes: a text file would import a codec module
            return f.read().decode("ascii", "replace")
    except OSError as err:
        if err.errno in MISSING:
            return None
        raise CgroupError(f"read {path}: {err.strerror}") from err


def read_int(path: str, default: int = 0) -> int:
    """A file holding one number; `max` reads as 2**64-1; missing or empty as `default`."""
    text = read(path)
    if text is None or not text.strip():
        return default
    return parse_int(text.split()[0])


def parse_int(word: str) -> int:
    if word == "max":
        return MAX_U64
    try:
        return int(word)
    except ValueError:
        return 0


def read_kv(path: str) -> dict[str, int]:
    """A flat keyed file (`memory.stat`, `cpu.stat`, `memory.events`): name -> number."""
    return parse_kv(read(path) or "")


def parse_kv(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2:
            out[fields[0]] = parse_int(fields[1])
    return out


def write(path: str, value: str, field: str) -> None:
    """One write(2) of `value`; raises `CgroupError` naming `field` and the file."""
    try:
        write_raw(path, value)
    except OSError as err:
        raise CgroupError(f"{field}: write {value!r} to {path}: {err.strerror}") from err


def write_raw(path: str, value: str) -> None:
    # O_TRUNC as runc's WriteFile: cgroupfs ignores it, a plain file (a test tree) needs it
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())  # cgroup files take one value per write call
    finally:
        os.close(fd)


def exists(path: str) -> bool:
    return os.path.exists(path)
