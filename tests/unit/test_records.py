"""Records decode the OCI spec as msgspec would: same values, same errors, same paths.

The reference is msgspec itself, on Structs built from the same annotations (evaluated
here with `typing`, independently of the Record parser): every document of a corpus
of valid configs and thousands of seeded mutations of them (wrong types, bounds,
missing required fields, unknown keys) must give the same result both ways.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import msgspec
import pytest

from shim.record_decoder import DecodeError, convert, decode_json
from shim.records import Record, field, replace, to_builtins
from shim.spec import _ints, model, resources
from shim.spec.default import default_config

_BOUNDS = {
    name: Annotated[int, msgspec.Meta(ge=getattr(_ints, name).lo, le=getattr(_ints, name).hi)]
    if getattr(_ints, name).hi is not None
    else Annotated[int, msgspec.Meta(ge=getattr(_ints, name).lo)]
    for name in ("U16", "U32", "U64", "I32", "I64")
}


def _mirror_all() -> dict[str, type[msgspec.Struct]]:
    """A msgspec Struct for every Record of the spec, from the same annotation strings."""
    records = {
        name: cls
        for module in (resources, model)
        for name, cls in vars(module).items()
        if isinstance(cls, type) and issubclass(cls, Record) and not name.startswith("_")
    }
    namespace: dict[str, Any] = dict(_BOUNDS)
    mirrors: dict[str, type[msgspec.Struct]] = {}

    def mirror(name: str) -> type[msgspec.Struct]:
        if name in mirrors:
            return mirrors[name]
        cls = records[name]
        fields = []
        for attr, f in cls.__record_fields__.items():
            annotation = f.annotation
            assert isinstance(annotation, str)
            for dep in records:
                if dep != name and dep in annotation.replace("[", " ").replace("]", " ").split():
                    namespace[dep] = mirror(dep)
            kind = eval(annotation, namespace)  # the annotation, read by typing's rules
            if f.required:
                fields.append((attr, kind, msgspec.field(name=f.key)))
            elif f.factory is not None:
                factory = f.factory
                if isinstance(factory, type) and issubclass(factory, Record):
                    factory = mirror(factory.__name__)
                fields.append((attr, kind, msgspec.field(default_factory=factory, name=f.key)))
            else:
                fields.append((attr, kind, msgspec.field(default=f.default, name=f.key)))
        mirrors[name] = msgspec.defstruct(name, fields, omit_defaults=True)
        return mirrors[name]

    for name in records:
        mirror(name)
    return mirrors


MIRRORS = _mirror_all()

_RICH = {
    "ociVersion": "1.2.0",
    "process": {
        "terminal": False,
        "consoleSize": {"height": 24, "width": 80},
        "user": {"uid": 1, "gid": 2, "umask": 18, "additionalGids": [3, 4], "username": "u"},
        "args": ["sh", "-c", "true"],
        "env": ["PATH=/bin"],
        "cwd": "/",
        "capabilities": {"bounding": ["CAP_KILL"], "effective": [], "ambient": ["CAP_KILL"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
        "oomScoreAdj": -500,
        "scheduler": {"policy": "SCHED_OTHER", "nice": 1, "flags": ["x"]},
        "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 4},
        "execCPUAffinity": {"initial": "0", "final": "0-1"},
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "h",
    "domainname": "d",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"]},
        {
            "destination": "/m",
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "gidMappings": [],
        },
    ],
    "hooks": {
        "prestart": [{"path": "/bin/true", "args": ["true"], "env": ["A=1"], "timeout": 5}],
        "poststop": [{"path": "/bin/true"}],
    },
    "annotations": {"a": "b", "c": ""},
    "linux": {
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "sysctl": {"net.ipv4.ip_forward": "1"},
        "resources": {
            "devices": [{"allow": False, "access": "rwm"}, {"allow": True, "type": "c"}],
            "memory": {"limit": 1 << 30, "swap": -1, "kernelTCP": 5, "disableOOMKiller": False},
            "cpu": {"shares": 512, "quota": -1, "cpus": "0-1", "mems": "0", "idle": 0},
            "pids": {"limit": 64},
            "blockIO": {
                "weight": 500,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 300, "leafWeight": 10}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
            },
            "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
            "network": {"classID": 7, "priorities": [{"name": "eth0", "priority": 1}]},
            "rdma": {"mlx": {"hcaHandles": 1}},
            "unified": {"memory.high": "max"},
        },
        "cgroupsPath": "/a/b",
        "namespaces": [{"type": "pid"}, {"type": "network", "path": "/proc/1/ns/net"}],
        "devices": [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 438}],
        "seccomp": {
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64"],
            "flags": [],
            "listenerPath": "/run/l.sock",
            "syscalls": [
                {
                    "names": ["read"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_EQ"}],
                }
            ],
        },
        "rootfsPropagation": "private",
        "maskedPaths": ["/proc/kcore"],
        "readonlyPaths": ["/proc/sys"],
        "intelRdt": {"closID": "g", "enableCMT": True},
        "personality": {"domain": "LINUX32", "flags": []},
        "timeOffsets": {"monotonic": {"secs": -10, "nanosecs": 5}},
    },
}
_CORPUS = [
    _RICH,
    json.loads(default_config(rootless=False)),
    json.loads(default_config(rootless=True)),
    {},
]
_WRONG: list[object] = [None, True, False, 0, 1, -1, 1.5, "x", "", [], [1], {}, {"x": 1}]
_WRONG += [1 << 16, 1 << 32, (1 << 32) - 1, 1 << 63, -(1 << 63) - 1, 1 << 64, -(1 << 31) - 1]


def _paths(doc: object, at: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [at]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*at, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += _paths(value, (*at, index))
    return found


def _variants(doc: dict[str, object]) -> Iterator[dict[str, object]]:
    """Every value of `doc` replaced by each wrong value, every key deleted, an unknown
    key added to every object."""
    for path in _paths(doc)[1:]:
        for action in [*range(len(_WRONG)), "delete", "unknown"]:
            changed = copy.deepcopy(doc)
            parent: Any = changed
            for step in path[:-1]:
                parent = parent[step]
            if action == "delete":
                if not isinstance(parent, dict):
                    continue
                del parent[path[-1]]
            elif action == "unknown":
                if not isinstance(parent[path[-1]], dict):
                    continue
                parent[path[-1]]["unknownField"] = 1
            else:
                assert isinstance(action, int)
                parent[path[-1]] = copy.deepcopy(_WRONG[action])
            yield changed


def _outcome_records(raw: bytes) -> tuple[str, object]:
    try:
        return ("ok", to_builtins(decode_json(raw, model.Spec)))
    except DecodeError as err:
        return ("error", str(err))


def _outcome_msgspec(raw: bytes) -> tuple[str, object]:
    try:
        return ("ok", msgspec.to_builtins(msgspec.json.decode(raw, type=MIRRORS["Spec"])))
    except msgspec.DecodeError as err:
        return ("error", str(err))


@pytest.mark.parametrize("index", range(len(_CORPUS)))
def test_valid_configs_decode_and_encode_as_with_msgspec(index: int) -> None:
    raw = json.dumps(_CORPUS[index]).encode()
    assert _outcome_records(raw) == _outcome_msgspec(raw)
    assert _outcome_records(raw)[0] == "ok"


@pytest.mark.parametrize("index", range(3))
def test_every_mutation_fails_or_passes_exactly_as_with_msgspec(index: int) -> None:
    errors = 0
    for doc in _variants(_CORPUS[index]):
        raw = json.dumps(doc).encode()
        ours, theirs = _outcome_records(raw), _outcome_msgspec(raw)
        assert ours == theirs, doc
        errors += ours[0] == "error"
    assert errors > 100  # the mutations do reach the checks


def test_convert_takes_int_and_str_subclasses_as_msgspec_does() -> None:
    class Name(str):
        pass

    rlimit = {"type": "RLIMIT_NOFILE", "hard": socket.AF_UNIX, "soft": socket.AF_INET}
    data = {"rlimits": [rlimit], "oomScoreAdj": socket.AF_UNIX, "cwd": Name("/")}
    ours, theirs = convert(data, model.Process), msgspec.convert(data, MIRRORS["Process"])
    assert type(ours.cwd) is type(msgspec.structs.asdict(theirs)["cwd"]) is Name  # kept, by both
    ours.cwd = "/"
    assert to_builtins(ours) == msgspec.to_builtins(msgspec.structs.replace(theirs, cwd="/"))
    assert type(ours.rlimits[0].hard) is int
    assert type(ours.oom_score_adj) is int
    with pytest.raises(
        DecodeError, match=r"^Expected `int`, got `bool` - at `\$\.rlimits\[0\]\.hard`$"
    ):
        convert({"rlimits": [{**rlimit, "hard": True}]}, model.Process)


def test_convert_from_builtins_matches_msgspec_convert() -> None:
    process = _RICH["process"]
    ours = convert(process, model.Process)
    assert to_builtins(ours) == msgspec.to_builtins(msgspec.convert(process, MIRRORS["Process"]))
    bad = {**process, "rlimits": [{"type": "RLIMIT_NOFILE", "hard": -1, "soft": 0}]}  # type: ignore[dict-item]
    with pytest.raises(DecodeError) as caught:
        convert(bad, model.Process)
    with pytest.raises(msgspec.ValidationError, match=f"^{re.escape(str(caught.value))}$"):
        msgspec.convert(bad, MIRRORS["Process"])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "Input data was truncated"),
        (b"{", "Input data was truncated"),
        (b'{"ociVersion": "1.', "Input data was truncated"),
        (b"[]", "Expected `object`, got `array`"),
        (b"null", "Expected `object`, got `null`"),
        (b"{} x", "JSON is malformed: Extra data: line 1 column 4 (char 3)"),
        (b"nope", "JSON is malformed: Expecting value: line 1 column 1 (char 0)"),
    ],
)
def test_malformed_json(raw: bytes, message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_json(raw, model.Spec)
    assert str(caught.value) == message


def test_bytes_that_are_not_utf8_raise_unicode_decode_error() -> None:
    with pytest.raises(UnicodeDecodeError):
        decode_json(b'{"hostname": "\xff"}', model.Spec)


class _Strict(Record, rename="camel", omit_defaults=True, forbid_unknown_fields=True):
    some_name: str
    count: int = 0
    tags: list[str] = field(default_factory=list)
    renamed: bool = field(default=False, name="RENAMED")


class _Child(_Strict):  # options are inherited, as msgspec's
    extra: dict[str, int] = field(default_factory=dict)
    s: _Strict | None = None


def test_unknown_fields_are_refused_when_asked() -> None:
    with pytest.raises(DecodeError, match=r"^Object contains unknown field `x`$"):
        convert({"someName": "a", "x": 1}, _Strict)
    with pytest.raises(DecodeError, match=r"^Object contains unknown field `y` - at `\$\.s`$"):
        convert({"someName": "a", "s": {"someName": "b", "y": 1}}, _Child)


def test_construction_equality_repr_and_replace() -> None:
    a = _Child("n", 2, extra={"k": 1})
    assert a == _Child(some_name="n", count=2, extra={"k": 1})
    assert a != _Child(some_name="n")
    assert repr(a) == (
        "_Child(some_name='n', count=2, tags=[], renamed=False, extra={'k': 1}, s=None)"
    )
    b = replace(a, count=3)
    assert (b.count, b.some_name, a.count) == (3, "n", 2)
    assert _Strict("x").tags is not _Strict("y").tags  # a fresh default per instance
    assert to_builtins(_Child("n", renamed=True)) == {"someName": "n", "RENAMED": True}
    with pytest.raises(TypeError, match="missing required argument 'some_name'"):
        _Strict()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected argument 'nope'"):
        _Strict("x", nope=1)  # type: ignore[call-arg]
    with pytest.raises(AttributeError):
        a.nope = 1  # type: ignore[attr-defined]  # slots: no stray attributes
    with pytest.raises(TypeError):
        hash(a)


def test_decoding_a_config_imports_neither_msgspec_nor_typing() -> None:
    code = (
        "import sys\n"
        "from shim.spec.load import load_spec\n"
        "from shim.spec.validate import validate_spec\n"
        "validate_spec(load_spec(sys.stdin.buffer.read()))\n"
        "print(sorted({'msgspec', 'typing', 're', 'enum'} & set(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path += {sys.path!r}\n{code}"],
        input=default_config(rootless=False).decode(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "[]", out.stderr
