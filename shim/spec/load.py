"""Decode config.json (or a process.json) into Records, once, at the edge."""

from __future__ import annotations

from shim.errors import InvalidConfig
from shim.record_decoder import DecodeError, decode_json
from shim.spec.model import Process, Spec

# runc's (Go's) words for JSON nested past the decoder's depth; no config needs it.
TOO_DEEP = "nested too deeply (exceeded max depth)"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    from shim.records import Record

    R = TypeVar("R", bound=Record)


def load_spec(raw: bytes) -> Spec:
    """Decode config.json; InvalidConfig if it is not JSON or a field has the wrong type.

    Unknown fields are ignored (OCI requires it). This does not validate: see validate_spec.
    """
    return _load(raw, Spec, "config.json")


def load_process(raw: bytes, source: str = "process.json") -> Process:
    """Decode the process of `exec --process FILE`; `source` names it in errors."""
    return _load(raw, Process, source)


def _load(raw: bytes, kind: type[R], source: str) -> R:
    try:
        return decode_json(raw, kind)
    except DecodeError as err:  # ends with the path, e.g. `$.process.args[1]`
        raise InvalidConfig(f"{source}: {err}") from None
    except UnicodeDecodeError as err:
        raise InvalidConfig(f"{source}: not valid UTF-8 at byte {err.start}") from None
    except RecursionError:
        raise InvalidConfig(f"{source}: {TOO_DEEP}") from None
