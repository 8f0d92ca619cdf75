"""Typed records: declared like msgspec Structs, decoded by msgspec's rules, without msgspec.

Importing msgspec costs a one-shot `create` more than runc's whole create here (typing,
re, enum, uuid, decimal, then a decoder built from every annotation: bench/), so the
OCI spec is made of Records. One is declared like a msgspec Struct:

    class Mount(Record, rename="camel", omit_defaults=True):
        destination: str
        options: list[str] = field(default_factory=list)
        uid_mappings: list[IDMapping] = field(default_factory=list)

`shim.record_decoder` builds them from JSON data with msgspec's checks, messages and
paths; `to_builtins` is the way back (JSON names; with `omit_defaults`, fields equal to
their default are left out); `replace` copies one with changes.
"""

from __future__ import annotations

TYPE_CHECKING = False  # `typing` costs ~17 ms of start-up here; mypy reads this as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import ClassVar, TypeVar, dataclass_transform

    from shim.record_decoder import Kind

    R = TypeVar("R", bound="Record")
else:

    def dataclass_transform(**_kwargs: object) -> Callable[[type], type]:
        return lambda cls: cls


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


class FieldInfo:
    """One field of a Record class, as the decoder and encoder use it."""

    __slots__ = ("annotation", "attr", "default", "factory", "key", "kind", "module", "required")

    def __init__(
        self, attr: str, key: str, spec: _FieldSpec, annotation: object, module: str
    ) -> None:
        self.attr, self.key = attr, key
        self.default, self.factory = spec.default, spec.factory
        self.required = spec.default is _NO_DEFAULT and spec.factory is None
        self.annotation, self.module = annotation, module  # where its names resolve
        self.kind: Kind | None = None  # parsed from the annotation by the first decode


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
        if rename not in (None, "camel"):
            raise ValueError(f"{cls_name}: rename={rename!r}: only 'camel' is supported")
        fields: dict[str, FieldInfo] = {}
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
            fields[attr] = FieldInfo(attr, key, spec, annotations[attr], module)
        namespace["__slots__"] = tuple(own)
        namespace["__record_fields__"] = fields
        namespace["__record_keys__"] = {f.key: f for f in fields.values()}
        namespace["__record_options__"] = options
        return super().__new__(mcls, cls_name, bases, namespace)


class Record(metaclass=_RecordMeta):
    """Base of the typed records: `__init__`, `==` and `repr` from the fields."""

    __slots__ = ()
    __record_fields__: ClassVar[dict[str, FieldInfo]]
    __record_options__: ClassVar[_Options]
    __record_keys__: ClassVar[dict[str, FieldInfo]]  # by JSON name

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


def _is_default(f: FieldInfo, value: object) -> bool:
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
