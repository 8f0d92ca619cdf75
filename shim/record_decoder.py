"""Records (`shim.records`) from JSON data, by msgspec's rules and with its messages.

`decode_json(raw, Mount)` or `convert(data, Mount)` (data as `json_codec.loads` gives
it). Unknown keys are ignored (a class with `forbid_unknown_fields=True` refuses them);
anything else that does not fit raises DecodeError with msgspec's text and path:
``Expected `str`, got `int` - at `$.options[1]` ``. An int subclass (an IntEnum) is
taken as a plain int, a bool never is, as msgspec does.

Field types are a small language, read from the annotation strings the first time a
class is decoded: `str`, `int`, `bool`, `object` (any JSON value), a Record class, an
`IntRange` (bounded ints such as U32), `X | None`, `list[X]`, `dict[str, X]`. Names
resolve in the module that declares the class, so they must be imported there at run
time, not only for type checking.
"""

from __future__ import annotations

import sys

from shim.records import IntRange, Record

TYPE_CHECKING = False  # `typing` costs ~17 ms of start-up here; mypy reads this as True
if TYPE_CHECKING:
    from typing import TypeAlias, TypeVar

    from shim.records import FieldInfo

    R = TypeVar("R", bound=Record)

# A parsed field type: a tag and its arguments.
#   ("scalar", python type, msgspec name) | ("int", IntRange) | ("any",) | ("none",)
#   ("record", class) | ("optional", kind) | ("list", kind) | ("dict", kind)
Kind: TypeAlias = "tuple[object, ...]"


class DecodeError(ValueError):
    """Data that does not fit its type; the message is msgspec's, with the path."""


def decode_json(raw: bytes | str, kind: type[R]) -> R:
    """Decode one JSON document into `kind`. DecodeError: malformed JSON (msgspec's
    `Input data was truncated` when it ends early), or data that does not fit;
    UnicodeDecodeError: bytes that are not UTF-8."""
    from shim.json_codec import loads

    try:
        data = loads(raw)
    except UnicodeDecodeError:
        raise  # the caller names the file and the byte
    except ValueError as err:
        pos = getattr(err, "pos", None)
        if not isinstance(pos, int):  # not about a place in the text: nesting too deep
            raise DecodeError(str(err)) from None
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        at_end = pos >= len(text.removeprefix("\ufeff").rstrip())
        if at_end or str(err).startswith("Unterminated string"):
            raise DecodeError("Input data was truncated") from None
        raise DecodeError(f"JSON is malformed: {err}") from None
    return convert(data, kind)


def convert(data: object, kind: type[R]) -> R:
    """`data` (dicts, lists, str, int, float, bool, None) checked and built into `kind`."""
    record = _convert_record(data, kind, "$")
    assert isinstance(record, kind)
    return record


_JSON_NAMES: dict[type, str] = {str: "str", int: "int", float: "float", bool: "bool"}
_JSON_NAMES[list] = "array"
_JSON_NAMES.update({dict: "object", tuple: "array", type(None): "null"})


def _got(value: object) -> str:
    if type(value) is int and not -(1 << 63) <= value < 1 << 64:
        return "float"  # msgspec reads a number beyond 64 bits as a float
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _at(path: str) -> str:
    return "" if path == "$" else f" - at `{path}`"


def _mismatch(expected: str, value: object, path: str) -> DecodeError:
    return DecodeError(f"Expected `{expected}`, got `{_got(value)}`{_at(path)}")


def _convert_record(data: object, cls: type[Record], path: str) -> Record:
    """Keys in the data's order, then the missing ones: msgspec reports errors so."""
    if not isinstance(data, dict):
        raise _mismatch("object", data, path)
    by_key = cls.__record_keys__
    forbid = cls.__record_options__.forbid_unknown_fields
    values: dict[str, object] = {}
    for key, value in data.items():
        f = by_key.get(key)
        if f is None:
            if forbid:
                raise DecodeError(f"Object contains unknown field `{key}`{_at(path)}")
            continue
        kind = f.kind if f.kind is not None else _field_kind(cls, f)
        values[f.attr] = _convert(value, kind, f"{path}.{key}")
    if len(values) < len(by_key):
        for f in by_key.values():
            if f.required and f.attr not in values:
                raise DecodeError(f"Object missing required field `{f.key}`{_at(path)}")
    return cls(**values)


def _convert(value: object, kind: Kind, path: str) -> object:
    tag = kind[0]
    if tag == "scalar":
        if not _fits(value, kind):
            raise _mismatch(str(kind[2]), value, path)
        if isinstance(value, int) and not isinstance(value, bool):
            return int(value)  # an IntEnum becomes a plain int, as with msgspec
        return value
    if tag == "int":
        bounds = kind[1]
        assert isinstance(bounds, IntRange)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _mismatch("int", value, path)
        value = int(value)
        if bounds.lo is not None and value < bounds.lo:
            raise DecodeError(f"Expected `int` >= {bounds.lo}{_at(path)}")
        if bounds.hi is not None and value > bounds.hi:
            raise DecodeError(f"Expected `int` <= {bounds.hi}{_at(path)}")
        return value
    if tag == "optional":
        if value is None:
            return None
        inner = kind[1]
        assert isinstance(inner, tuple)
        if not _fits(value, inner):
            raise _mismatch(f"{_expected(inner)} | null", value, path)
        return _convert(value, inner, path)
    if tag == "record":
        cls = kind[1]
        assert isinstance(cls, type)
        assert issubclass(cls, Record)
        return _convert_record(value, cls, path)
    if tag in ("list", "dict"):
        return _convert_container(value, kind, path)
    return value  # "any": whatever JSON holds


def _convert_container(value: object, kind: Kind, path: str) -> object:
    inner = kind[1]
    assert isinstance(inner, tuple)
    if kind[0] == "list":
        if not isinstance(value, list | tuple):
            raise _mismatch("array", value, path)
        return [_convert(item, inner, f"{path}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, dict):
        raise _mismatch("object", value, path)
    return {key: _convert(item, inner, f"{path}[...]") for key, item in value.items()}


def _fits(value: object, kind: Kind) -> bool:
    """Whether `value` has the JSON type `kind` wants (so `X | null` names the union)."""
    tag = kind[0]
    if tag == "scalar":
        python_type = kind[1]
        assert isinstance(python_type, type)
        return _is_int(value) if python_type is int else isinstance(value, python_type)
    if tag == "int":
        return _is_int(value)
    if tag in ("record", "dict"):
        return isinstance(value, dict)
    if tag == "list":
        return isinstance(value, list | tuple)
    return True


def _is_int(value: object) -> bool:
    """msgspec's rule: an int or a subclass (an IntEnum, made a plain int), never a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _expected(kind: Kind) -> str:
    tag = kind[0]
    if tag == "scalar":
        return str(kind[2])
    if tag == "int":
        return "int"
    if tag in ("record", "dict"):
        return "object"
    return "array" if tag == "list" else "any"


_SCALARS: dict[str, Kind] = {
    "str": ("scalar", str, "str"),
    "int": ("scalar", int, "int"),
    "bool": ("scalar", bool, "bool"),
    "object": ("any",),
}


def _field_kind(cls: type[Record], f: FieldInfo) -> Kind:
    """Parse the field's annotation (once) in the namespace of the declaring module."""
    where = f"{cls.__name__}.{f.attr}"
    if not isinstance(f.annotation, str):  # its module lacks `from __future__ import annotations`
        raise TypeError(f"{where}: annotation {f.annotation!r} is not a string")
    f.kind = _TypeParser(f.annotation, vars(sys.modules[f.module]), where).parse()
    return f.kind


class _TypeParser:
    """`list[IDMapping]`, `U32 | None`, `dict[str, TimeOffset]` into a Kind."""

    def __init__(self, text: str, namespace: dict[str, object], where: str) -> None:
        for char in "[],|":
            text = text.replace(char, f" {char} ")
        self.tokens, self.at = text.split(), 0
        self.namespace, self.where, self.text = namespace, where, text

    def parse(self) -> Kind:
        kind = self._union()
        if self.at != len(self.tokens):
            raise self._error()
        return kind

    def _error(self) -> TypeError:
        return TypeError(f"{self.where}: unsupported field type {' '.join(self.tokens)!r}")

    def _next(self) -> str:
        if self.at == len(self.tokens):
            raise self._error()
        self.at += 1
        return self.tokens[self.at - 1]

    def _union(self) -> Kind:
        kinds = [self._term()]
        while self.at < len(self.tokens) and self.tokens[self.at] == "|":
            self.at += 1
            kinds.append(self._term())
        if len(kinds) == 1:
            return kinds[0]
        others = [k for k in kinds if k != ("none",)]
        if len(kinds) != 2 or len(others) != 1:  # only `X | None` is in the language
            raise self._error()
        return ("optional", others[0])

    def _term(self) -> Kind:
        name = self._next()
        if name == "None":
            return ("none",)
        if name in ("list", "dict"):
            return self._container(name)
        if name in _SCALARS:
            return _SCALARS[name]
        found = self.namespace.get(name)
        if isinstance(found, IntRange):
            return ("int", found)
        if isinstance(found, type) and issubclass(found, Record):
            return ("record", found)
        raise self._error()

    def _container(self, name: str) -> Kind:
        if self._next() != "[":
            raise self._error()
        if name == "dict" and (self._next() != "str" or self._next() != ","):
            raise self._error()  # JSON object keys are strings
        inner = self._union()
        if self._next() != "]":
            raise self._error()
        return (name, inner)
