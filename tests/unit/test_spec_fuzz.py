"""Property-based fuzz of config.json decoding and validation (issue 16).

Whatever config.json holds, `create` must end in a clear error (a ShimError: the CLI
prints its message, never "internal error") or in a spec it can encode for the helper.
Walked here without running anything: decode, validate, the unsupported-field checks, the
id maps' text, and the BOOT message itself (namespace paths blanked: encoding opens
them). Inputs: random bytes; random JSON; runc's default config with random fields
replaced by random JSON (huge and negative numbers, NULs, deep nesting) or dropped.
Bounded: a few hundred examples, a few seconds; derandomized so CI sees the same ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeAlias

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shim.errors import ShimError
from shim.init.boot import build_boot
from shim.init.idmap import map_text
from shim.records import to_builtins
from shim.runtime.unsupported import check_supported
from shim.spec import default_config, load_spec, validate_spec

JSON: TypeAlias = bool | int | float | str | list["JSON"] | dict[str, "JSON"] | None
FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([-1, 0, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63, 2**64 - 1, 2**64]),
    st.floats(allow_nan=True),
)
TEXT = st.one_of(st.text(max_size=20), st.sampled_from(["", "\0", "a\0b", "/", "..", "/proc"]))
LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
VALUES: st.SearchStrategy[JSON] = st.recursive(
    LEAVES, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(TEXT, kids, max_size=4)
)


def _paths(node: JSON, at: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found: list[tuple[str | int, ...]] = [at] if at else []
    if len(at) > 6:  # fuzzed values nest; the config's own fields do not go deeper
        return found
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*at, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*at, index))
    return found


@st.composite
def mutated_configs(draw: st.DrawFn) -> bytes:
    config: JSON = json.loads(default_config(rootless=draw(st.booleans())))
    for _ in range(draw(st.integers(1, 6))):
        path = draw(st.sampled_from(_paths(config)))
        parent: JSON = config
        for step in path[:-1]:
            parent = parent[step]  # type: ignore[index]
        if isinstance(parent, dict) and draw(st.integers(0, 5)) == 0:
            del parent[path[-1]]  # type: ignore[arg-type]
        else:
            parent[path[-1]] = draw(VALUES)  # type: ignore[index]
    return json.dumps(config).encode()


def _create_checks(raw: bytes, bundle: Path) -> None:
    """What `create` does with config.json before it makes anything; only ShimError may
    leave (the CLI prints it as it is; anything else becomes "internal error")."""
    try:
        spec = load_spec(raw)
        validate_spec(spec)
        check_supported(spec)
        if spec.linux is not None:
            map_text(spec.linux.uid_mappings, "linux.uidMappings")
            map_text(spec.linux.gid_mappings, "linux.gidMappings")
            for ns in spec.linux.namespaces:
                ns.path = ""  # encoding opens them: never a fuzzed path
        plan = build_boot(
            spec,
            container_id="fuzz",
            bundle=str(bundle),
            rootfs=str(bundle / "rootfs"),
            cgroup_dirs=[],
            no_pivot=False,
            no_new_keyring=False,
            has_console=False,
        )
    except ShimError as err:
        message = str(err)
    else:
        assert plan.fds == []
        assert isinstance(plan.body, bytes)
        return
    assert message, "an error without a message"


@FUZZ
@given(raw=st.binary(max_size=256))
def test_random_bytes_never_crash_create(raw: bytes) -> None:
    _create_checks(raw, Path("/nonexistent/bundle"))


@FUZZ
@given(value=VALUES)
def test_random_json_never_crashes_create(value: JSON) -> None:
    _create_checks(json.dumps(value).encode(), Path("/nonexistent/bundle"))


@FUZZ
@given(raw=mutated_configs())
def test_a_mutated_default_config_never_crashes_create(raw: bytes) -> None:
    _create_checks(raw, Path("/nonexistent/bundle"))


@settings(FUZZ, max_examples=30)
@given(
    raw=mutated_configs(),
    key=st.sampled_from(["x", "process", "linux", "mounts", "hooks", "annotations"]),
    depth=st.integers(1000, 200000),
    brackets=st.sampled_from(["[]", "{}"]),
)
def test_nesting_past_any_decoders_depth_never_crashes_create(
    raw: bytes, key: str, depth: int, brackets: str
) -> None:
    """In a field the decoder skips (unknown) or one it knows: a RecursionError before."""
    opening, closing = (brackets[0], brackets[1]) if brackets == "[]" else ('{"a":', "}")
    text = raw.decode()[:-1] + f', "{key}": ' + opening * depth + "0" * (brackets == "{}")
    _create_checks((text + closing * depth + "}").encode(), Path("/nonexistent/bundle"))


def test_the_fuzz_reaches_valid_specs() -> None:
    """Not only errors: an unmutated default config gets all the way to a BOOT body."""
    spec = load_spec(default_config(rootless=False))
    validate_spec(spec)
    process = to_builtins(spec)["process"]
    assert isinstance(process, dict)
    assert process["args"] == ["sh"]
    _create_checks(default_config(rootless=False), Path("/nonexistent/bundle"))
