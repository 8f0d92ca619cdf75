"""csrc/protocol.h and shim/init/protocol.py describe one protocol: every constant agrees."""

from __future__ import annotations

import pytest

from shim.init import protocol

native = pytest.importorskip(
    "shim.sys._native", reason="cffi bindings not built (pip install -e .)"
)


def _constants() -> list[str]:
    return [n for n in dir(protocol) if n.isupper() and isinstance(getattr(protocol, n), int)]


@pytest.mark.parametrize("name", _constants())
def test_python_constant_matches_the_c_header(name: str) -> None:
    assert getattr(native.lib, name) == getattr(protocol, name)


def test_every_c_constant_is_mirrored_in_python() -> None:
    syscalls = ("PR_", "IN_", "SYS_")  # the syscall bindings beside the protocol
    c_names = {n for n in dir(native.lib) if n.isupper() and not n.startswith(syscalls)}
    assert c_names <= set(_constants())


def test_struct_layouts_match_the_c_structs() -> None:
    ffi = native.ffi
    assert protocol.HEADER.size == ffi.sizeof("struct proto_header")
    assert protocol.TLV.size == ffi.sizeof("struct proto_tlv")
    assert protocol.LOG_RECORD.size == ffi.sizeof("struct proto_log")
    assert protocol.HEADER.size == native.lib.PROTO_HEADER_SIZE
    assert protocol.TLV.size == native.lib.PROTO_TLV_HEADER_SIZE
