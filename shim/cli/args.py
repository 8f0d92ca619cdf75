"""runc's command line: Go `flag` parsing driven by urfave/cli v1, as runc 1.1.5 does it.

    runc [global flags] COMMAND [command flags] ARGS...

* Global flags only before the command; command flags anywhere for most commands
  (urfave moves flags found after positional arguments to the front), but `exec` and
  `ps` stop at the first positional argument. `--` ends the flags.
* Go syntax: `-f`, `--f`, `-f=v`, `--f v`; bools take `=true|false` only; no bundling.
* Errors carry runc's exact text; `UsageError.help_text` is everything runc prints on
  stdout for it (`Incorrect Usage: ...` or `Incorrect Usage.`, then the help page).

The commands and their flags are data in `shim.cli.table`.
"""

from __future__ import annotations

from shim.cli.table import (
    COMMAND_ALIASES,
    COMMANDS,
    GLOBAL_FLAGS,
    HELP_FLAG,
    default_root,
    render_help,
)
from shim.logs import go_quote

TYPE_CHECKING = False  # `typing` costs ~9 ms at start-up; mypy still reads this as True
if TYPE_CHECKING:
    from typing import TypeVar

    from shim.cli.table import Command, Flag
    from shim.errors import UsageError

    T = TypeVar("T")

_ARG_CHECKS = {"exactly": int.__ne__, "a minimum of": int.__lt__, "a maximum of": int.__gt__}
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
_GO_BOOLS.update({"0": False, "f": False, "F": False, "FALSE": False, "false": False})
_GO_BOOLS["False"] = False
_ASCII_DIGITS = "0123456789"
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_UNITS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9}
_UNITS["h"] = 3600 * 10**9


class Invocation:
    """One parsed command line. `flags` holds every flag of `command` keyed by its long
    name (`pid-file`), defaults filled in; `given` names those typed on the line."""

    __slots__ = ("args", "command", "flags", "given", "globals", "globals_given", "help", "version")

    def __init__(self, globals_: dict[str, object], globals_given: frozenset[str]) -> None:
        self.globals, self.globals_given = globals_, globals_given
        self.command: str | None = None
        self.flags: dict[str, object] = {}
        self.given: frozenset[str] = frozenset()
        self.args: list[str] = []
        self.help = self.version = False

    def flag_str(self, name: str) -> str:
        return _expect(self.flags[name], str, name)

    def flag_bool(self, name: str) -> bool:
        return _expect(self.flags[name], bool, name)

    def flag_int(self, name: str) -> int:
        return _expect(self.flags[name], int, name)

    def flag_seconds(self, name: str) -> float:
        return _expect(self.flags[name], float, name)

    def flag_list(self, name: str) -> list[str]:
        return _expect(self.flags[name], list, name)

    def flag_ints(self, name: str) -> list[int]:
        return _expect(self.flags[name], list, name)

    def global_str(self, name: str) -> str:
        return _expect(self.globals[name], str, name)

    def global_bool(self, name: str) -> bool:
        return _expect(self.globals[name], bool, name)


def _expect(value: object, kind: type[T], name: str) -> T:
    if not isinstance(value, kind):
        raise TypeError(f"flag {name} is {type(value).__name__}, not {kind.__name__}")
    return value


def parse(argv: list[str], prog: str = "runc") -> Invocation:
    """Parse the arguments after the program name; `prog` is argv[0] as invoked (runc
    puts it in argument-count errors). Raises UsageError or UnknownCommand.

    Same as `parse_command(parse_globals(argv), prog)`; a caller that sets up logging
    from the global flags before looking at the command (as runc does) calls the two.
    """
    return parse_command(parse_globals(argv), prog)


def parse_globals(argv: list[str]) -> Invocation:
    """The global flags; then `command` is the next word (unchecked), `args` the rest.
    After `--help` or `--version` (or with no command) `command` is None."""
    values, used, rest, error = _go_parse(GLOBAL_FLAGS, argv)
    conflict = _two_forms(GLOBAL_FLAGS, used)
    if conflict:  # urfave checks this before the parse error, and words it differently
        raise _usage(conflict, f"{conflict}\n{help_text(None)}")
    if error:
        raise _usage(error, f"Incorrect Usage. {error}\n\n{help_text(None)}")
    help_, version = bool(values.pop("help", False)), bool(values.pop("version", False))
    globals_ = {flag[0][0]: flag[2] for flag in GLOBAL_FLAGS[:-2]}  # all but help, version
    globals_["root"] = default_root()
    invocation = Invocation(globals_ | values, frozenset(values))
    invocation.help = help_ or not (rest or version)  # a bare `runc` prints the help too
    invocation.version = version and not invocation.help
    invocation.args = rest
    if rest and not (invocation.help or invocation.version):
        invocation.command, invocation.args = rest[0], rest[1:]
    return invocation


def parse_command(invocation: Invocation, prog: str = "runc") -> Invocation:
    """Parse the command's flags and check its argument count, filling `invocation`.

    Nothing to do after a global `--help`/`--version`. `help [COMMAND]` gives a help
    result for COMMAND (none: the global help)."""
    if invocation.command is None:  # global --help or --version: nothing more to parse
        return invocation
    command = _command(invocation.command)
    name, arg_rules, flags = command[0], command[4], (*command[6], HELP_FLAG)
    argv = invocation.args if command[5] else _reorder(flags, invocation.args)
    values, used, rest, error = _go_parse(flags, argv)
    error = error or _two_forms(flags, used)
    if error:
        raise _usage(error, f"Incorrect Usage: {error}\n\n{help_text(name)}")
    invocation.help = bool(values.pop("help", False))
    invocation.command, invocation.args, invocation.given = name, rest, frozenset(values)
    invocation.flags = {flag[0][0]: _default(flag) for flag in command[6]} | values
    if name == "help" and not invocation.help:
        invocation.command = _command(rest[0])[0] if rest else None
        invocation.help, invocation.args = True, []
    if invocation.help:
        return invocation
    for phrase, count in arg_rules:
        if _ARG_CHECKS[phrase](len(rest), count):
            message = f'{prog}: "{name}" requires {phrase} {count} argument(s)'
            raise _usage(message, f"Incorrect Usage.\n\n{help_text(name)}")
    return invocation


def help_text(command: str | None) -> str:
    """The help page runc prints for `command` (an alias works; None: the global page).
    Raises UnknownCommand for a name runc does not have."""
    return render_help(None if command is None else _command(command))


def _command(word: str) -> Command:
    name = COMMAND_ALIASES.get(word, word)
    for command in COMMANDS:
        if command[0] == name:
            return command
    from shim.errors import UnknownCommand  # here: shim.errors imports `typing`

    raise UnknownCommand(f"No help topic for '{word}'")


def _usage(message: str, stdout: str) -> UsageError:
    from shim.errors import UsageError  # here: shim.errors imports `typing`

    return UsageError(message, stdout)


def _reorder(flags: tuple[Flag, ...], args: list[str]) -> list[str]:
    """urfave/cli v1 `reorderArgs`: flags (and the word after each) first, `--` kept.

    Any word after a flag without `=` goes with it, even after a bool: `kill ID -a 9`
    becomes `-a 9 ID`, so the signal is taken for the id (runc 1.1.5 does this)."""
    names = {name for flag in flags for name in flag[0]}
    front: list[str] = []
    back: list[str] = []
    after_flag = False
    for index, arg in enumerate(args):
        if after_flag and not _is_flag(names, arg):
            after_flag = False
            front.append(arg)
        elif arg == "--":
            back = ["--", *back, *args[index + 1 :]]
            break
        elif _is_flag(names, arg):
            front.append(arg)
            after_flag = "=" not in arg
        else:
            back.append(arg)
    return front + back


def _is_flag(names: set[str], arg: str) -> bool:
    if arg in ("-", "--") or not arg.startswith("-"):
        return False
    if arg.startswith("--"):
        arg = arg.replace("-", "", 2)
    if arg.startswith("-"):
        arg = arg.replace("-", "", 1)
    return arg.split("=", 1)[0] in names


def _go_parse(
    flags: tuple[Flag, ...], argv: list[str]
) -> tuple[dict[str, object], list[str], list[str], str]:
    """Go's `FlagSet.Parse`: (values by long name, names as typed, the rest, error)."""
    by_name = {name: flag for flag in flags for name in flag[0]}
    values: dict[str, object] = {}
    used: list[str] = []
    index = 0
    try:
        while index < len(argv) and len(argv[index]) > 1 and argv[index][0] == "-":
            arg, index = argv[index], index + 1
            if arg == "--":
                break
            name, equals, text = arg[2 if arg[1] == "-" else 1 :].partition("=")
            if not name or name[0] == "-":
                raise ValueError(f"bad flag syntax: {arg}")
            if name not in by_name:
                raise ValueError(f"flag provided but not defined: -{name}")
            key, kind = by_name[name][0][0], by_name[name][1]
            if kind == "bool" and equals and text not in _GO_BOOLS:
                raise ValueError(f"invalid boolean value {go_quote(text)} for -{name}: parse error")
            if kind != "bool" and not equals:
                if index == len(argv):
                    raise ValueError(f"flag needs an argument: -{name}")
                text, index = argv[index], index + 1
            parsed = _GO_BOOLS.get(text, True) if kind == "bool" else _go_value(kind, text, name)
            if kind not in ("strings", "ints"):
                values[key] = parsed
            elif isinstance(previous := values.setdefault(key, []), list):
                previous.append(parsed)
            used.append(name)
    except ValueError as err:
        return values, used, argv, str(err)
    return values, used, argv[index:], ""


def _two_forms(flags: tuple[Flag, ...], used: list[str]) -> str:
    """urfave's `normalizeFlags`: one flag given under two of its names."""
    for flag in flags:
        first = ""
        for name in flag[0]:
            if name in used and first:
                return f"Cannot use two forms of the same flag: {name} {first}"
            first = first or (name if name in used else "")
    return ""


def _default(flag: Flag) -> object:
    names, kind, value = flag[0], flag[1], flag[2]
    if kind in ("strings", "ints"):
        return []
    return _go_value(kind, str(value), names[0]) if kind == "duration" else value


def _go_value(kind: str, text: str, name: str) -> object:
    """A non-bool flag's value from its Go syntax; ValueError carries Go's message."""
    try:
        if kind == "duration":
            return _go_duration(text) / 1e9
        return _go_int(text, base_prefixes=kind == "int") if kind in ("int", "ints") else text
    except ValueError as err:
        reason = str(err)
        if kind == "ints":  # urfave's Int64Slice passes strconv's error through
            reason = f"strconv.ParseInt: parsing {go_quote(text)}: {reason}"
        elif reason != "value out of range":  # Go's flag package says only this much
            reason = "parse error"
        raise ValueError(f"invalid value {go_quote(text)} for flag -{name}: {reason}") from None


def _go_int(text: str, base_prefixes: bool) -> int:
    """strconv.ParseInt(text, 0 or 10, 64); ValueError `invalid syntax` or `value out of range`."""
    negative, unsigned = text[:1] == "-", text[1:] if text[:1] in ("+", "-") else text
    if not unsigned:
        raise ValueError("invalid syntax")
    base, body = 10, unsigned
    if base_prefixes and unsigned[0] == "0":  # 0x.., 0o.., 0b.., else 0.. is octal
        prefixed = len(unsigned) >= 3 and unsigned[1] in "xXoObB"
        base = {"x": 16, "o": 8, "b": 2}[unsigned[1].lower()] if prefixed else 8
        body = unsigned[2:] if prefixed else unsigned[1:]
    value = 0
    for char in body:
        if char == "_" and base_prefixes:
            continue
        digit = _DIGITS.find(char.lower()) if char.isascii() else -1
        if not 0 <= digit < base:
            raise ValueError("invalid syntax")
        value = value * base + digit
        if value >= 1 << 64:
            raise ValueError("value out of range")
    if "_" in body and not _underscores_ok(unsigned):
        raise ValueError("invalid syntax")
    if value > (1 << 63) - (not negative):
        raise ValueError("value out of range")
    return -value if negative else value


def _underscores_ok(text: str) -> bool:
    """Go's rule: `_` only between digits (a base prefix counts as a digit)."""
    prefixed = len(text) >= 2 and text[0] == "0" and text[1] in "xXoObB"
    hexadecimal = prefixed and text[1] in "xX"
    saw = "0" if prefixed else "^"
    for char in text[2:] if prefixed else text:
        if char in _ASCII_DIGITS or (hexadecimal and char.lower() in "abcdef"):
            saw = "0"
        elif char == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def _go_duration(text: str) -> int:
    """time.ParseDuration in nanoseconds (`1h2m3.5s`, `.5s`, `-1s`, a bare `0`)."""
    negative, rest = text[:1] == "-", text[1:] if text[:1] in ("+", "-") else text
    if rest == "0":
        return 0
    if not rest:
        raise ValueError("parse error")
    total = 0
    while rest:
        whole = len(rest) - len(rest.lstrip(_ASCII_DIGITS))
        point = rest[whole : whole + 1] == "."
        after = rest[whole + point :]
        end = whole + point + len(after) - len(after.lstrip(_ASCII_DIGITS))
        unit_end = end
        while unit_end < len(rest) and rest[unit_end] not in "0123456789.":
            unit_end += 1
        scale = _UNITS.get(rest[end:unit_end], 0)
        if not scale or end == point or int(rest[:whole] or 0) > (1 << 63) // scale:
            raise ValueError("parse error")
        value = int(rest[:whole] or 0) * scale
        fraction, places = 0, 1.0
        for digit in rest[whole + point : end]:  # Go's leadingFraction, overflow and all
            if fraction > ((1 << 63) - 1) // 10 or fraction * 10 + int(digit) > 1 << 63:
                break
            fraction, places = fraction * 10 + int(digit), places * 10
        total += value + int(fraction * (scale / places))
        if total > 1 << 63:
            raise ValueError("parse error")
        rest = rest[unit_end:]
    if not negative and total == 1 << 63:
        raise ValueError("parse error")
    return -total if negative else total
