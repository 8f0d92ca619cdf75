"""Device access rules: the spec's rules, then runc's defaults; written here to the v1
devices controller. cgroup v2 gets the same rules as a BPF program (`devices_bpf`).
"""

from __future__ import annotations

import os

from shim.errors import CgroupError, InvalidConfig, Unsupported

# runc 1.1's AllowedDevices, appended after the spec's rules: (type, major, minor, access).
DEFAULT_ALLOWED = (
    ("c", -1, -1, "m"),
    ("b", -1, -1, "m"),
    ("c", 1, 3, "rwm"),  # /dev/null
    ("c", 1, 8, "rwm"),  # /dev/random
    ("c", 1, 7, "rwm"),  # /dev/full
    ("c", 5, 0, "rwm"),  # /dev/tty
    ("c", 1, 5, "rwm"),  # /dev/zero
    ("c", 1, 9, "rwm"),  # /dev/urandom
    ("c", 136, -1, "rwm"),  # /dev/pts/*
    ("c", 5, 2, "rwm"),  # /dev/ptmx
    ("c", 10, 200, "rwm"),  # /dev/net/tun (allowed by runc 1.1, dropped in 1.2)
)


class Rule:
    __slots__ = ("access", "allow", "major", "minor", "type")

    def __init__(self, allow: bool, type: str, major: int, minor: int, access: str) -> None:
        self.allow = allow
        self.type = type
        self.major = major
        self.minor = minor
        self.access = access

    def line(self) -> str:
        major = "*" if self.major < 0 else str(self.major)
        minor = "*" if self.minor < 0 else str(self.minor)
        return f"{self.type} {major}:{minor} {self.access}"


def rule_of(
    index: int,
    allow: bool,
    type: str | None,
    major: int | None,
    minor: int | None,
    access: str | None,
) -> Rule:
    """One spec rule, checked (the message names the field).

    Like runc, only the letters r, w and m of `access` count ("rwa" means "rw"); an empty
    string is refused with runc's text, and so is one without any of the three (runc
    fails it later, "resulting devices cgroup doesn't precisely match target"). An absent
    access means "rwm", as in crun.
    """
    where = f"linux.resources.devices[{index}]"
    kind = type or "a"
    if kind not in ("a", "b", "c"):
        raise Unsupported(f"{where}.type: unknown device type {kind!r}")
    if access == "":
        raise InvalidConfig(f"device access at {index} field cannot be empty")
    perms = "".join(c for c in "rwm" if c in (access or "rwm"))
    if not perms:
        raise InvalidConfig(f"{where}.access: {access!r} grants none of r, w and m")
    return Rule(allow, kind, -1 if major is None else major, -1 if minor is None else minor, perms)


def with_defaults(rules: list[Rule]) -> list[Rule]:
    """The spec's rules followed by runc's default allow rules, in the order they apply."""
    return [*rules, *(Rule(True, *d) for d in DEFAULT_ALLOWED)]


def apply_devices(paths: dict[str, str], rules: list[Rule]) -> None:
    """Write the rules (then runc's defaults) into the container's devices cgroup."""
    directory = paths.get("devices")
    if directory is None:
        if rules:
            raise Unsupported(
                "linux.resources.devices: device rules need the v1 devices controller here"
            )
        return
    for rule in with_defaults(rules):
        name = "devices.allow" if rule.allow else "devices.deny"
        try:
            fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, rule.line().encode())
            finally:
                os.close(fd)
        except OSError as err:
            raise CgroupError(
                f"write {rule.line()!r} to {directory}/{name}: {err.strerror}"
            ) from None
