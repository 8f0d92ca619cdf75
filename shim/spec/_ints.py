"""The fixed-width integers of the spec's Go bindings, as Record bounds.

runc refuses a negative uid or a 2^32 size while decoding; so do we, with the path.
U64 has no upper bound (msgspec had none either): process_rules checks what must fit.
"""

from __future__ import annotations

from shim.records import IntRange

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeAlias

    U16: TypeAlias = int
    U32: TypeAlias = int
    U64: TypeAlias = int
    I32: TypeAlias = int
    I64: TypeAlias = int
else:
    U16 = IntRange("U16", 0, (1 << 16) - 1)
    U32 = IntRange("U32", 0, (1 << 32) - 1)
    U64 = IntRange("U64", 0, None)
    I32 = IntRange("I32", -(1 << 31), (1 << 31) - 1)
    I64 = IntRange("I64", -(1 << 63), (1 << 63) - 1)
