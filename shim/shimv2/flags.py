"""The shim's command line, parsed the way Go's `flag` package does (spec section 3).

    <shim> -namespace N -address A -publish-binary P -id I [-bundle B] [-debug] [start|delete]

Single or double dash, `-name value` or `-name=value`; a bool flag takes no separate
value (`-debug=false` works, `-debug false` makes `false` the action). Parsing stops
at the first argument that is not a flag (or after `--`): that is the action, and
no action means the long-running daemon. Errors read like Go's and exit 2.

Start-up matters here: this module imports nothing.
"""

from __future__ import annotations

STRING_FLAGS = {
    "namespace": "namespace that owns the shim",
    "id": "id of the task",
    "address": "grpc address back to main containerd",
    "publish-binary": "path to publish binary (used for publishing events)",
    "bundle": "path to the bundle if not workdir",
    "socket": "socket path to serve",
}
BOOL_FLAGS = {
    "debug": "enable debug output in logs",
    "v": "show the shim version and exit",
    "version": "show the shim version and exit",
    "info": "get the option protobuf from stdin, print the shim info and exit",
}
ACTIONS = ("start", "delete")


class FlagError(Exception):
    """Bad command line (Go's flag package exits 2)."""


class Flags:
    __slots__ = ("action", "address", "bundle", "debug", "id", "info", "namespace",
                 "publish_binary", "socket", "version")  # fmt: skip

    def __init__(self) -> None:
        self.namespace = self.id = self.address = self.bundle = self.socket = ""
        self.publish_binary = "containerd"
        self.debug = self.version = self.info = False
        self.action = ""


def _bool(name: str, value: str) -> bool:
    # strconv.ParseBool
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise FlagError(f'invalid boolean value "{value}" for -{name}: parse error')


def _set(flags: Flags, name: str, value: str | bool) -> None:
    if name in ("v", "version"):
        flags.version = bool(value)
    else:
        setattr(flags, name.replace("-", "_"), value)


def parse(argv: list[str]) -> Flags:
    """Flags and action from argv (without the program name). Raises FlagError."""
    flags = Flags()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            i += 1
            break
        if len(arg) < 2 or arg[0] != "-":
            break
        body = arg[2:] if arg.startswith("--") else arg[1:]
        if not body or body[0] in "-=":
            raise FlagError(f"bad flag syntax: {arg}")
        name, has_value, value = body.partition("=")
        i += 1
        if name in ("h", "help"):
            raise FlagError("help requested")
        if name in BOOL_FLAGS:
            _set(flags, name, _bool(name, value) if has_value else True)
        elif name in STRING_FLAGS:
            if not has_value:
                if i >= len(argv):
                    raise FlagError(f"flag needs an argument: -{name}")
                value, i = argv[i], i + 1
            _set(flags, name, value)
        else:
            raise FlagError(f"flag provided but not defined: -{name}")
    rest = argv[i:]
    if rest:
        if rest[0] not in ACTIONS:
            raise FlagError(f"unknown action {rest[0]!r}: want start, delete or none")
        if len(rest) > 1:
            raise FlagError(f"unexpected arguments after {rest[0]}: {' '.join(rest[1:])}")
        flags.action = rest[0]
    return flags


def usage(prog: str) -> str:
    lines = [f"Usage of {prog}:"]
    for name, text in sorted({**STRING_FLAGS, **BOOL_FLAGS}.items()):
        kind = " string" if name in STRING_FLAGS else ""
        lines.append(f"  -{name}{kind}\n    \t{text}")
    return "\n".join(lines) + "\n"
