"""The runtime options Any on `start`'s stdin, read without the protobuf package.

containerd sends nothing, or a google.protobuf.Any (spec 3.1, 7.2):
  runtimeoptions.v1.Options {1 type_url, 2 config_path, 3 config_body}   (CRI, ctr)
  containerd.runc.v1.Options {... 7 root ...}                          (runc-typed)
`start` needs two things from it: the grouping mode and the runtime state root.
Loading protobuf would cost `start` ~15 ms, so this is a twenty-line wire reader;
tests check it against the generated messages.

Our config (TOML, the file at config_path, else config_body):
    group = "namespace"                  # or "sandbox" (the default)
    runtime_root = "/run/containerd/pyshim"   # state root; the namespace is appended
"""

from __future__ import annotations

RUNTIME_OPTIONS = "runtimeoptions.v1.Options"
RUNC_OPTIONS = "containerd.runc.v1.Options"
DEFAULT_RUNTIME_ROOT = "/run/containerd/pyshim"


class OptionsError(ValueError):
    pass


class ShimOptions:
    __slots__ = ("group_by", "runtime_root")

    def __init__(self, group_by: str = "sandbox", runtime_root: str = DEFAULT_RUNTIME_ROOT) -> None:
        self.group_by, self.runtime_root = group_by, runtime_root

    def root_for(self, namespace: str) -> str:
        return f"{self.runtime_root.rstrip('/')}/{namespace}"


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise OptionsError("runtime options: truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def fields(data: bytes) -> dict[int, bytes | int]:
    """Field number -> last value (varint: int, length-delimited: bytes). Raises OptionsError."""
    out: dict[int, bytes | int] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            out[number], pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise OptionsError("runtime options: truncated field")
            out[number], pos = data[pos : pos + size], pos + size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
        else:
            raise OptionsError(f"runtime options: unsupported wire type {wire}")
    return out


def _text(value: bytes | int | None) -> str:
    if not isinstance(value, bytes):
        return ""
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise OptionsError("runtime options: a string field is not UTF-8") from None


def parse_options(raw: bytes) -> ShimOptions:
    """ShimOptions from the options Any (empty: defaults). Raises OptionsError."""
    if not raw:
        return ShimOptions()
    wrapper = fields(raw)
    type_url = _text(wrapper.get(1))
    value = wrapper.get(2, b"")
    body = fields(value) if isinstance(value, bytes) else {}
    if type_url == RUNC_OPTIONS:
        return ShimOptions(runtime_root=_text(body.get(7)) or DEFAULT_RUNTIME_ROOT)
    if type_url == RUNTIME_OPTIONS:
        path = _text(body.get(2))
        config = body.get(3, b"")
        if path:
            try:
                with open(path, "rb") as file:
                    config = file.read()
            except OSError as err:
                raise OptionsError(f"runtime options: config {path}: {err.strerror}") from None
        return parse_config(config if isinstance(config, bytes) else b"")
    raise OptionsError(f"runtime options: unsupported type {type_url!r}")


def parse_config(raw: bytes) -> ShimOptions:
    """Our TOML config. Unknown keys are refused (a typo must not pass as a default)."""
    if not raw.strip():
        return ShimOptions()
    import tomllib  # only when a config is given: ~15 ms

    try:
        table = tomllib.loads(raw.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise OptionsError(f"shim config: {err}") from None
    options = ShimOptions()
    for key, value in table.items():
        if key == "group" and value in ("sandbox", "namespace"):
            options.group_by = value
        elif key == "runtime_root" and isinstance(value, str) and value.startswith("/"):
            options.runtime_root = value
        elif key in ("group", "runtime_root"):
            raise OptionsError(f"shim config: {key}: invalid value {value!r}")
        else:
            raise OptionsError(f"shim config: unknown key {key!r}")
    return options
