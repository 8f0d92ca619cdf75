"""json_codec must agree with the stdlib byte for byte, on every shape we can think of."""

from __future__ import annotations

import json
import math

import pytest

from shim.json_codec import dumps, loads

SHAPES: list[object] = [
    None,
    True,
    False,
    0,
    -1,
    10**40,
    -(10**40),
    0.0,
    -0.0,
    1.5,
    1e300,
    5e-324,
    1e16,
    0.1,
    "",
    "plain",
    'quote " and backslash \\ and slash /',
    "\x00\x01\x08\x0c\x1f\x7f\t\n\r",
    "é ü 中文 \u2028 \u2029 \ufeff 😀",
    "\ud800 lone surrogate",
    [],
    {},
    [[]],
    [{}],
    {"a": {}},
    {"a": []},
    [[], {}, [[{}]]],
    {"nested": {"deeper": {"deepest": [1, [2, [3, {"x": None}]]]}}},
    [1, "two", 3.0, None, True, False, {"k": "v"}],
    {"z": 1, "a": 2, "m": {"b": [], "a": {}}},  # insertion order kept
    {"ociVersion": "1.0.2-dev", "id": "c1", "pid": 8286, "annotations": {"a.first": "x"}},
    {"é": "key with accent", "": "empty key", "\n": "control key"},
    (1, 2, (3,)),
    {7: "int key", 2.5: "float key", True: "bool key", False: "no", None: "null key"},
    list(range(50)),
]
INDENTS: list[int | str | None] = [None, 0, 1, 2, 4, "\t", "--", -1]


@pytest.mark.parametrize("indent", INDENTS)
@pytest.mark.parametrize("obj", SHAPES, ids=repr)
def test_dumps_matches_the_stdlib(obj: object, indent: int | str | None) -> None:
    if indent is None:
        expected = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    else:
        expected = json.dumps(obj, indent=indent, ensure_ascii=False)
    assert dumps(obj, indent) == expected


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_written_like_the_stdlib(value: float, indent: int | None) -> None:
    separators = (",", ":") if indent is None else None
    assert dumps([value], indent) == json.dumps([value], indent=indent, separators=separators)


@pytest.mark.parametrize("obj", SHAPES, ids=repr)
def test_loads_matches_the_stdlib(obj: object) -> None:
    for text in (json.dumps(obj), json.dumps(obj, indent=2, ensure_ascii=False)):
        assert repr(loads(text)) == repr(json.loads(text))
    ascii_text = json.dumps(obj)  # ensure_ascii: valid UTF-8 even with a lone surrogate
    assert repr(loads(ascii_text.encode())) == repr(json.loads(ascii_text))


@pytest.mark.parametrize(
    "text",
    [
        " \t\n\r[1, 2] \n",
        '{"a": NaN, "b": Infinity, "c": -Infinity}',
        '"\\u00e9\\ud83d\\ude00"',
        "123456789012345678901234567890",
        "-0.0",
        "1E400",
    ],
)
def test_loads_accepts_what_the_stdlib_accepts(text: str) -> None:
    assert repr(loads(text)) == repr(json.loads(text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Expecting value: line 1 column 1 (char 0)"),
        ("   ", "Expecting value: line 1 column 4 (char 3)"),
        ("[1,", "Expecting value: line 1 column 4 (char 3)"),
        ("[1,]", "Expecting value: line 1 column 4 (char 3)"),
        ("nul", "Expecting value: line 1 column 1 (char 0)"),
        ("[1] x", "Extra data: line 1 column 5 (char 4)"),
        ("{}\n\n{}", "Extra data: line 3 column 1 (char 4)"),
        ('{"a" 1}', "Expecting ':' delimiter: line 1 column 6 (char 5)"),
        ('"\x01"', "Invalid control character at: line 1 column 2 (char 1)"),
        ("\ufeff[]", "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"),
    ],
)
def test_decode_errors_are_value_errors_with_a_position(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="char") as caught:
        loads(text)
    assert str(caught.value) == message
    assert f"(char {getattr(caught.value, 'pos', None)})" in message


def test_loads_takes_utf8_bytes_with_or_without_bom() -> None:
    assert loads(b'{"k": "\xc3\xa9"}') == {"k": "é"}
    assert loads(b'\xef\xbb\xbf{"k": 1}') == {"k": 1}
    with pytest.raises(ValueError, match="utf-8"):
        loads(b'"\xff"')


@pytest.mark.parametrize("indent", [None, 2])
def test_unsupported_values_raise_type_error(indent: int | None) -> None:
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        dumps({"a": {1}}, indent)
    with pytest.raises(TypeError, match="keys must be str, int, float, bool or None, not tuple"):
        dumps({(1, 2): 3}, indent)


@pytest.mark.parametrize("indent", [None, 2])
def test_circular_structures_raise_value_error(indent: int | None) -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference detected"):
        dumps(loop, indent)


def test_a_shared_but_acyclic_value_is_fine() -> None:
    shared = {"x": [1]}
    assert dumps([shared, shared], 2) == json.dumps([shared, shared], indent=2)


def test_malformed_input_in_a_fresh_interpreter_is_a_value_error() -> None:
    # Before json.decoder is loaded, CPython 3.11's scanner fails with SystemError instead.
    import subprocess
    import sys

    code = (
        "from shim.json_codec import loads\n"
        "try:\n    loads('{')\nexcept ValueError as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, check=True)
    expected = "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    assert out.stdout.decode().strip() == f"JSONDecodeError {expected}"
