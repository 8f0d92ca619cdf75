"""JSON for plain data (dict, list, str, int, float, bool, None) without `import json`.

`json` pulls in `re` and costs ~7 ms at start-up; its C accelerators in `_json` do the
real work, so this module drives them directly. Output is byte-for-byte the stdlib's
`json.dumps(obj, ensure_ascii=False)` with `separators=(",", ":")` (compact) or with
`indent=` (separators `","` / `": "`), and `loads` accepts what `json.loads` accepts
(including `NaN` and `Infinity`) for UTF-8 text.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False  # `typing` costs ~9 ms at start-up; mypy still reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeAlias

    _Container: TypeAlias = list[object] | tuple[object, ...] | dict[object, object]

_WHITESPACE = " \t\n\r"
_INFINITY = float("inf")
_CONSTANTS = {"NaN": float("nan"), "Infinity": _INFINITY, "-Infinity": -_INFINITY}


class _ScanContext:
    """The attributes `_json.make_scanner` reads: the stdlib decoder's defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    array_hook = None  # read from Python 3.15 on


class JSONDecodeError(ValueError):
    """Malformed JSON; `pos` is the character index where it went wrong (as the stdlib's)."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


def _position(doc: str, pos: int) -> str:
    line = doc.count("\n", 0, pos) + 1
    column = pos - doc.rfind("\n", 0, pos)
    return f"line {line} column {column} (char {pos})"


def loads(data: bytes | str) -> object:
    """Decode one JSON document.

    Raises ValueError (message ends with `line L column C (char N)`, and its `pos`
    attribute is N) on malformed input or trailing data, ValueError (no `pos`) for
    nesting too deep to decode, and UnicodeDecodeError (a ValueError too) for bytes that
    are not UTF-8.
    """
    if isinstance(data, bytes):
        data = data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    elif data.startswith("\ufeff"):
        message = f"Unexpected UTF-8 BOM (decode using utf-8-sig): {_position(data, 0)}"
        raise JSONDecodeError(message, 0)
    scan = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]  # duck-typed context
    start = len(data) - len(data.lstrip(_WHITESPACE))
    try:
        try:
            obj, end = scan(data, start)
        except SystemError:
            # CPython 3.11's scanner imports json.decoder to raise JSONDecodeError and, when it
            # is not loaded yet, fails without an exception set. Load it; the retry raises the
            # real error (a ValueError, with the position). Only malformed input gets here.
            import json.decoder  # noqa: F401

            obj, end = scan(data, start)
    except StopIteration as err:
        raise JSONDecodeError(f"Expecting value: {_position(data, err.value)}", err.value) from None
    except RecursionError:
        raise ValueError("nested too deeply (exceeded max depth)") from None
    extra = len(data) - len(data[end:].lstrip(_WHITESPACE))
    if extra != len(data):
        raise JSONDecodeError(f"Extra data: {_position(data, extra)}", extra)
    return obj


def _unsupported(obj: object) -> object:
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


def dumps(obj: object, indent: int | str | None = None) -> str:
    """Encode plain data as the stdlib would with `ensure_ascii=False`.

    `indent=None` gives the compact form (no spaces); an int or str indents like
    `json.dumps(indent=...)`. Raises TypeError for other types or non-string keys
    that JSON cannot express, ValueError for a circular structure.
    """
    if indent is None:
        encode = _json.make_encoder(
            {}, _unsupported, _json.encode_basestring, None, ":", ",", False, False, True
        )
        return "".join(encode(obj, 0))
    out: list[str] = []
    _Indenter(indent if isinstance(indent, str) else " " * indent, out).value(obj, "\n")
    return "".join(out)


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (_INFINITY, -_INFINITY):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _key(key: object) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return {None: "null", True: "true", False: "false"}[key]
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        return _float(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


class _Indenter:
    """The stdlib's pure-Python iterencode with an indent, minus its options."""

    def __init__(self, indent: str, out: list[str]) -> None:
        self._indent, self._out = indent, out
        self._open: set[int] = set()  # containers on the current path
        self._string: Callable[[str], str] = _json.encode_basestring

    def value(self, obj: object, newline: str) -> None:
        out = self._out
        if isinstance(obj, str):
            out.append(self._string(obj))
        elif obj is None:
            out.append("null")
        elif obj is True or obj is False:
            out.append("true" if obj else "false")
        elif isinstance(obj, int):
            out.append(int.__repr__(obj))
        elif isinstance(obj, float):
            out.append(_float(obj))
        elif isinstance(obj, list | tuple | dict):
            self._container(obj, newline)
        else:
            _unsupported(obj)

    def _container(self, obj: _Container, newline: str) -> None:
        out = self._out
        if not obj:
            out.append("{}" if isinstance(obj, dict) else "[]")
            return
        if id(obj) in self._open:
            raise ValueError("Circular reference detected")
        self._open.add(id(obj))
        inner = newline + self._indent
        if isinstance(obj, dict):
            out.append("{")
            for index, (key, item) in enumerate(obj.items()):
                out.append(("," if index else "") + inner + self._string(_key(key)) + ": ")
                self.value(item, inner)
            out.append(newline + "}")
        else:
            out.append("[")
            for index, item in enumerate(obj):
                out.append(("," if index else "") + inner)
                self.value(item, inner)
            out.append(newline + "]")
        self._open.discard(id(obj))
