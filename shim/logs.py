"""runc's log lines (logrus text and JSON formatters) without importing `logging`.

Text:  time="2026-11-23T15:19:22Z" level=error msg="container does not exist" id=c1
JSON:  {"id":"c1","level":"error","msg":"container does not exist","time":"2026-11-23T15:19:22Z"}

Times are UTC with seconds precision. Text values are bare when made only of
`[A-Za-z0-9-._/@^+]` and Go-quoted (`%q`) otherwise; JSON keys are sorted and
strings escaped the way Go's encoding/json does (`<` is `\\u003c`). A text logger
whose destination is a terminal prints logrus's coloured form (`ERRO[0000] msg`).

One slot holds the logger `setup()` configured; `get_logger()` returns it, or a
warning-level text logger on stderr until then.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.io.log_sinks import DroppingWriter as Sink

_LEVELS = {"error": 2, "warning": 3, "info": 4, "debug": 5}  # logrus numbering
_COLOURS = {"error": 31, "warning": 33, "info": 36, "debug": 37}
_CLASHING = ("time", "msg", "level")  # logrus renames such fields to `fields.<key>`
_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._/@^+")
_GO_ESCAPES = dict(
    zip("\a\b\f\n\r\t\v", ("\\a", "\\b", "\\f", "\\n", "\\r", "\\t", "\\v"), strict=True)
)
_JSON_ESCAPES = {i: f"\\u{i:04x}" for i in range(0x20)}
_JSON_ESCAPES.update({ord(c): f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"})
_JSON_ESCAPES.update({0x22: '\\"', 0x5C: "\\\\", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"})
_START = time.monotonic()  # logrus's coloured form counts seconds from here


def go_quote(text: str) -> str:
    """Go's `strconv.Quote` (`%q`); surrogate-escaped bytes come out as `\\xNN`."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F or 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code & 0xFF:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _json_string(text: str) -> str:
    escaped = text.translate(_JSON_ESCAPES)
    try:
        escaped.encode()
    except UnicodeEncodeError:  # Go writes `\ufffd` for each byte that is not UTF-8
        escaped = "".join("\\ufffd" if "\ud800" <= c <= "\udfff" else c for c in escaped)
    return f'"{escaped}"'


def _float_digits(value: float) -> tuple[str, str, int]:
    """Sign, shortest round-trip digits and decimal point: value = 0.DIGITS * 10**point."""
    mantissa, _, exponent = repr(value).partition("e")
    sign = "-" if mantissa.startswith("-") else ""
    whole, _, fraction = mantissa.lstrip("-").partition(".")
    digits = whole + fraction
    stripped = digits.lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(digits) - len(stripped))
    return sign, stripped.rstrip("0"), point


def _go_float(value: float, for_json: bool) -> str:
    """Go's `fmt.Sprint` (for_json=False) or encoding/json form of a finite float."""
    sign, digits, point = _float_digits(value)
    if not digits:
        return sign + "0"
    exp = point - 1
    # encoding/json writes exponents below 1e-6 and from 1e21; %v (shortest %g) below
    # 1e-4 and from 1e+06
    low, high = (-6, 21) if for_json else (-4, 6)
    if low <= exp < high:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{digits}"
        whole, fraction = digits[:point].ljust(point, "0"), digits[point:]
        return sign + whole + ("." + fraction if fraction else "")
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    width = 1 if for_json and exp < 0 else 2  # encoding/json trims e-07 to e-7
    return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):0{width}d}"


def _text_value(value: object) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool) or value is None:
        text = {True: "true", False: "false", None: "<nil>"}[value]
    elif isinstance(value, float) and value - value == 0:
        text = _go_float(value, for_json=False)
    elif isinstance(value, float):
        text = "NaN" if value != value else ("+Inf" if value > 0 else "-Inf")
    else:
        text = str(value)
    return text if _BARE.issuperset(text) else go_quote(text)


def _json_value(value: object) -> str:
    if value is None or isinstance(value, bool):
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value - value == 0:
        return _go_float(value, for_json=True)
    return _json_string(str(value))


class Logger:
    """Writes one line per record with a single write(2) to `fd`."""

    __slots__ = ("_colour", "_fd", "_json", "_level", "_sink", "_to_file")

    def __init__(self, fd: int, log_format: str, level: str, to_file: bool) -> None:
        """`log_format` is `text` or `json`; `to_file`: a `--log` file, not stderr."""
        self._fd, self._json, self._level = fd, log_format == "json", _LEVELS[level]
        self._to_file = to_file
        self._colour = not self._json and os.isatty(fd)
        self._sink: Sink | None = None

    def never_block(self) -> Sink:
        """From now on a record that cannot be written at once is dropped and counted
        (the sink's `dropped`), never waited for: a long-lived async process must not stall
        on a log pipe nobody reads (containerd's `log` fifo while containerd is down).

        Writes go through a reopened copy of the log fd (`/proc/self/fd/N`: a file
        description of our own, set O_NONBLOCK without touching a terminal or pipe the
        process shares); where that cannot be reopened (a socket), through the fd itself.
        """
        if self._sink is not None:
            return self._sink
        from shim.io.log_sinks import DroppingWriter

        try:
            fd = os.open(f"/proc/self/fd/{self._fd}", os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except OSError:
            fd = os.dup(self._fd)
        self._sink = DroppingWriter(fd)
        return self._sink

    def enabled(self, level: str) -> bool:
        return _LEVELS[level] <= self._level

    def log(self, level: str, msg: str, /, **fields: object) -> None:
        """Emit a record at `level` (error, warning, info, debug) if enabled."""
        if _LEVELS[level] > self._level:
            return
        data = {("fields." + k if k in _CLASHING else k): v for k, v in fields.items()}
        if self._json:
            data.update(level=level, msg=msg, time=_timestamp())
            line = ",".join(f"{_json_string(k)}:{_json_value(data[k])}" for k in sorted(data))
            self._write("{" + line + "}\n")
        elif self._colour:
            self._write(_coloured(level, msg, data))
        else:
            head = f"time={_text_value(_timestamp())} level={level}"
            body = f" msg={_text_value(msg)}" if msg else ""
            tail = "".join(f" {k}={_text_value(data[k])}" for k in sorted(data))
            self._write(head + body + tail + "\n")

    def debug(self, msg: str, /, **fields: object) -> None:
        self.log("debug", msg, **fields)

    def info(self, msg: str, /, **fields: object) -> None:
        self.log("info", msg, **fields)

    def warning(self, msg: str, /, **fields: object) -> None:
        self.log("warning", msg, **fields)

    def error(self, msg: str, /, **fields: object) -> None:
        self.log("error", msg, **fields)

    def fatal(self, msg: str) -> None:
        """runc's `fatal`: an error record, plus the bare message on stderr when the
        records go to a `--log` file. Does not exit: the caller returns the exit code."""
        self.log("error", msg)
        if self._to_file:
            _write_all(2, (msg + "\n").encode("utf-8", "surrogateescape"))

    def close(self) -> None:
        """Close a `--log` file (stderr is left alone)."""
        if self._to_file:
            os.close(self._fd)

    def _write(self, line: str) -> None:
        data = line.encode("utf-8", "surrogateescape")
        if self._sink is not None:
            self._sink.write(data)
        else:
            _write_all(self._fd, data)


def _write_all(fd: int, data: bytes) -> None:
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:  # like logrus: a dead log destination must not fail the operation
        return


def _timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _coloured(level: str, msg: str, data: dict[str, object]) -> str:
    colour, elapsed = _COLOURS[level], int(time.monotonic() - _START)
    msg = msg.removesuffix("\n")
    head = f"\x1b[{colour}m{level[:4].upper()}\x1b[0m[{elapsed:04d}] {msg:<44} "
    tail = "".join(f" \x1b[{colour}m{k}\x1b[0m={_text_value(data[k])}" for k in sorted(data))
    return head + tail + "\n"


_current: Logger | None = None  # the one slot: what setup() configured


def setup(log_path: str | None, log_format: str, debug: bool) -> Logger:
    """Configure the process logger from `--log`, `--log-format` and `--debug`.

    `log_format` "" means text. Raises ShimError `invalid log-format: xml` for any
    other value, and ShimError `open PATH: <reason>` when the file cannot be opened.
    """
    global _current
    from shim.errors import ShimError  # here, not at the top: it imports `typing`

    if log_format not in ("", "text", "json"):
        raise ShimError(f"invalid log-format: {log_format}")
    fd, to_file = 2, bool(log_path)
    if log_path:
        flags = os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
        try:
            fd = os.open(log_path, flags, 0o644)
        except OSError as err:  # Go's wording: `open /x/log.json: no such file or directory`
            reason = os.strerror(err.errno) if err.errno else str(err)
            raise ShimError(f"open {log_path}: {reason[:1].lower()}{reason[1:]}") from None
    _current = Logger(fd, log_format or "text", "debug" if debug else "info", to_file)
    return _current


def get_logger() -> Logger:
    """The logger `setup()` configured, else warning level, text, on stderr."""
    return _current if _current is not None else Logger(2, "text", "warning", False)


def never_block() -> Sink:
    """Make the process logger (the default one if none was set up) drop what it cannot
    write at once, for a long-lived async process; see `Logger.never_block`."""
    global _current
    if _current is None:
        _current = get_logger()
    return _current.never_block()


def report_fatal(logger: Logger, message: str) -> None:
    """Report the error that ends a command, the way runc's `fatal` does."""
    logger.fatal(message)
