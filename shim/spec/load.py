"""Decode config.json (or a process.json) into Structs, once, at the edge."""

from __future__ import annotations

import msgspec

from shim.errors import InvalidConfig
from shim.spec.model import Process, Spec

# runc's (Go's) words for JSON nested past the decoder's depth; no config needs it.
TOO_DEEP = "nested too deeply (exceeded max depth)"
_SPEC_DECODER = msgspec.json.Decoder(Spec)
_PROCESS_DECODER = msgspec.json.Decoder(Process)


def load_spec(raw: bytes) -> Spec:
    """Decode config.json; InvalidConfig if it is not JSON or a field has the wrong type.

    Unknown fields are ignored (OCI requires it). This does not validate: see validate_spec.
    """
    try:
        return _SPEC_DECODER.decode(raw)
    except msgspec.DecodeError as err:  # ends with the path, e.g. `$.process.args[1]`
        raise InvalidConfig(f"config.json: {err}") from None
    except UnicodeDecodeError as err:
        raise InvalidConfig(f"config.json: not valid UTF-8 at byte {err.start}") from None
    except RecursionError:
        raise InvalidConfig(f"config.json: {TOO_DEEP}") from None


def load_process(raw: bytes, source: str = "process.json") -> Process:
    """Decode the process of `exec --process FILE`; `source` names it in errors."""
    try:
        return _PROCESS_DECODER.decode(raw)
    except msgspec.DecodeError as err:
        raise InvalidConfig(f"{source}: {err}") from None
    except UnicodeDecodeError as err:
        raise InvalidConfig(f"{source}: not valid UTF-8 at byte {err.start}") from None
    except RecursionError:
        raise InvalidConfig(f"{source}: {TOO_DEEP}") from None
