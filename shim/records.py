"""Typed records decoded from JSON data by msgspec's rules, with its messages, without msgspec.

Importing msgspec costs a one-shot `create` more than runc's whole create here (typing,
re, enum, uuid, decimal, then a decoder built from every annotation: bench/), so the
OCI spec is made of Records. One is declared like a msgspec Struct:

    class Mount(Record, rename="camel", omit_defaults=True):
        destination: str
        options: list[str] = field(default_factory=list)
        uid_mappings: list[IDMapping] = field(default_factory=list)

and decoded with `decode_json(raw, Mount)` or `convert(data, Mount)` (data as
`json_codec.loads` gives it). Unknown keys are ignored (`forbid_unknown_fields=True`
refuses them); anything else that does not fit raises DecodeError with msgspec's text
and path: ``Expected `str`, got `int` - at `$.options[1]` ``. `to_builtins` is the way
back (JSON names; with `omit_defaults`, fields equal to their default are left out).

Field types are a small language, read from the annotation strings the first time a
class is decoded: `str`, `int`, `bool`, `object` (any JSON value), a Record
class, an `IntRange` (bounded ints such as U32), `X | None`, `list[X]`, `dict[str, X]`.
Names resolve in the module that declares the class, so they must be imported there at
run time, not only for type checking.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # `typing` costs ~17 ms of start-up here; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import ClassVar, TypeVar, dataclass_transform

    R = TypeVar("R", bound="Record")
else:

    def dataclass_transform(**_kwargs: object) -> Callable[[type], type]:
        return lambda cls: cls


class DecodeError(ValueError):
    """Data that does not fit its type; the message is msgspec's, with the path."""


class IntRange:
    """An int type with bounds: `Expected `int` >= 0` below `lo`, `<= hi` above `hi`."""

    __slots__ = ("hi", "lo", "name")

    def __init__(self, name: str, lo: int | None, hi: int | None) -> None:
        self.name, self.lo, self.hi = name, lo, hi


class _FieldSpec:
    __slots__ = ("default", "factory", "name")

    def __init__(
        self, default: object, factory: Callable[[], object] | None, name: str | None
    ) -> None:
        self.default, self.factory, self.name = default, factory, name


_NO_DEFAULT = object()  # the `default` of a required field


if TYPE_CHECKING:
    from typing import overload

    T = TypeVar("T")

    @overload
    def field(*, default: T, name: str | None = None) -> T: ...
    @overload
    def field(*, default_factory: Callable[[], T], name: str | None = None) -> T: ...
    @overload  # a required field with a JSON name: T is the annotation's (msgspec says Any)
    def field(*, name: str) -> T: ...  # type: ignore[type-var]
    def field(
        *,
        default: object = _NO_DEFAULT,
        default_factory: Callable[[], object] | None = None,
        name: str | None = None,
    ) -> object: ...

else:

    def field(
        *,
        default: object = _NO_DEFAULT,
        default_factory: Callable[[], object] | None = None,
        name: str | None = None,
    ) -> object:
        """A field's default (a value, or a factory called per instance) and JSON name."""
        return _FieldSpec(default, default_factory, name)


class _Field:
    """One field of a Record class, as the decoder and encoder use it."""

    __slots__ = ("annotation", "attr", "default", "factory", "key", "kind", "module", "required")

    def __init__(
        self, attr: str, key: str, spec: _FieldSpec, annotation: object, module: str
    ) -> None:
        self.attr, self.key = attr, key
        self.default, self.factory = spec.default, spec.factory
        self.required = spec.default is _NO_DEFAULT and spec.factory is None
        self.annotation, self.module = annotation, module  # where its names resolve
        self.kind: _Kind | None = None  # parsed from the annotation on first decode


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


class _Options:
    """A class's keywords; a subclass inherits those it does not give (as msgspec's)."""

    __slots__ = ("forbid_unknown_fields", "omit_defaults", "rename")

    def __init__(self, rename: str | None, omit_defaults: bool, forbid: bool) -> None:
        self.rename, self.omit_defaults, self.forbid_unknown_fields = rename, omit_defaults, forbid


@dataclass_transform(field_specifiers=(field,))
class _RecordMeta(type):
    """Turns annotated class attributes into fields: slots, defaults, JSON names."""

    def __new__(
        mcls,
        cls_name: str,
        bases: tuple[type, ...],
        namespace: dict[str, object],
        rename: str | None = None,
        omit_defaults: bool | None = None,
        forbid_unknown_fields: bool | None = None,
    ) -> _RecordMeta:
        fields: dict[str, _Field] = {}
        inherited = _Options(None, False, False)
        for base in bases:
            fields.update(getattr(base, "__record_fields__", {}))
            inherited = getattr(base, "__record_options__", inherited)
        options = _Options(
            rename if rename is not None else inherited.rename,
            omit_defaults if omit_defaults is not None else inherited.omit_defaults,
            forbid_unknown_fields
            if forbid_unknown_fields is not None
            else inherited.forbid_unknown_fields,
        )
        annotations = namespace.get("__annotations__", {})
        module = namespace.get("__module__")
        assert isinstance(annotations, dict)
        assert isinstance(module, str)
        own = [name for name in annotations if not name.startswith("__")]
        for attr in own:
            value = namespace.pop(attr, _NO_DEFAULT)
            spec = value if isinstance(value, _FieldSpec) else _FieldSpec(value, None, None)
            key = spec.name or (_camel(attr) if options.rename == "camel" else attr)
            fields[attr] = _Field(attr, key, spec, annotations[attr], module)
        namespace["__slots__"] = tuple(own)
        namespace["__record_fields__"] = fields
        namespace["__record_keys__"] = {f.key: f for f in fields.values()}
        namespace["__record_options__"] = options
        return super().__new__(mcls, cls_name, bases, namespace)


class Record(metaclass=_RecordMeta):
    """Base of the typed records: `__init__`, `==` and `repr` from the fields."""

    __slots__ = ()
    __record_fields__: ClassVar[dict[str, _Field]]
    __record_options__: ClassVar[_Options]
    __record_keys__: ClassVar[dict[str, _Field]]  # by JSON name

    def __init__(self, *args: object, **kwargs: object) -> None:
        fields = type(self).__record_fields__
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__}: too many positional arguments")
        for value, attr in zip(args, fields, strict=False):
            if attr in kwargs:
                raise TypeError(f"{type(self).__name__}: {attr} given twice")
            kwargs[attr] = value
        for attr, f in fields.items():
            if attr in kwargs:
                setattr(self, attr, kwargs.pop(attr))
            elif f.required:
                raise TypeError(f"{type(self).__name__}: missing required argument {attr!r}")
            else:
                setattr(self, attr, f.factory() if f.factory is not None else f.default)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected argument {next(iter(kwargs))!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, a) == getattr(other, a) for a in type(self).__record_fields__)

    def __repr__(self) -> str:
        shown = ", ".join(f"{a}={getattr(self, a)!r}" for a in type(self).__record_fields__)
        return f"{type(self).__name__}({shown})"


def replace(record: R, **changes: object) -> R:
    """A shallow copy of `record` with `changes` (msgspec.structs.replace)."""
    values = {a: getattr(record, a) for a in type(record).__record_fields__}
    values.update(changes)
    return type(record)(**values)


def to_builtins(record: Record) -> dict[str, object]:
    """The record as JSON-ready data: JSON names, nested records as dicts, and with
    `omit_defaults` no field that equals its default (or an empty factory value)."""
    return _encode_record(record)


def _encode_record(record: Record) -> dict[str, object]:
    cls = type(record)
    omit_defaults = cls.__record_options__.omit_defaults
    out: dict[str, object] = {}
    for f in cls.__record_fields__.values():
        value = getattr(record, f.attr)
        if omit_defaults and not f.required and _is_default(f, value):
            continue
        out[f.key] = _encode(value)
    return out


def _is_default(f: _Field, value: object) -> bool:
    if f.factory is not None:
        return type(value) is f.factory and not value  # an empty list or dict
    return type(value) is type(f.default) and value == f.default


def _encode(value: object) -> object:
    if isinstance(value, Record):
        return _encode_record(value)
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    return value


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


# A parsed field type: a tag and its arguments.
#   ("scalar", python type, msgspec name) | ("int", IntRange) | ("any",)
#   ("record", class) | ("optional", kind) | ("list", kind) | ("dict", kind)
_Kind = tuple[object, ...]
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


def _convert(value: object, kind: _Kind, path: str) -> object:
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


def _convert_container(value: object, kind: _Kind, path: str) -> object:
    inner = kind[1]
    assert isinstance(inner, tuple)
    if kind[0] == "list":
        if not isinstance(value, list | tuple):
            raise _mismatch("array", value, path)
        return [_convert(item, inner, f"{path}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, dict):
        raise _mismatch("object", value, path)
    return {key: _convert(item, inner, f"{path}[...]") for key, item in value.items()}


def _fits(value: object, kind: _Kind) -> bool:
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


def _expected(kind: _Kind) -> str:
    tag = kind[0]
    if tag == "scalar":
        return str(kind[2])
    if tag == "int":
        return "int"
    if tag in ("record", "dict"):
        return "object"
    return "array" if tag == "list" else "any"


_SCALARS: dict[str, _Kind] = {
    "str": ("scalar", str, "str"),
    "int": ("scalar", int, "int"),
    "bool": ("scalar", bool, "bool"),
    "object": ("any",),
}


def _field_kind(cls: type[Record], f: _Field) -> _Kind:
    """Parse the field's annotation (once) in the namespace of the declaring module."""
    where = f"{cls.__name__}.{f.attr}"
    if not isinstance(f.annotation, str):  # its module lacks `from __future__ import annotations`
        raise TypeError(f"{where}: annotation {f.annotation!r} is not a string")
    f.kind = _TypeParser(f.annotation, vars(sys.modules[f.module]), where).parse()
    return f.kind


class _TypeParser:
    """`list[IDMapping]`, `U32 | None`, `dict[str, TimeOffset]` into a _Kind."""

    def __init__(self, text: str, namespace: dict[str, object], where: str) -> None:
        for char in "[],|":
            text = text.replace(char, f" {char} ")
        self.tokens, self.at = text.split(), 0
        self.namespace, self.where, self.text = namespace, where, text

    def parse(self) -> _Kind:
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

    def _union(self) -> _Kind:
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

    def _term(self) -> _Kind:
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

    def _container(self, name: str) -> _Kind:
        if self._next() != "[":
            raise self._error()
        if name == "dict" and (self._next() != "str" or self._next() != ","):
            raise self._error()  # JSON object keys are strings
        inner = self._union()
        if self._next() != "]":
            raise self._error()
        return (name, inner)
