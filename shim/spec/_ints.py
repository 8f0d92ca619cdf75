"""The fixed-width integers of the spec's Go bindings, as msgspec constraints.

runc refuses a negative uid or a 2^32 size while decoding; so do we, with the path.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

import msgspec

U16: TypeAlias = Annotated[int, msgspec.Meta(ge=0, le=(1 << 16) - 1)]
U32: TypeAlias = Annotated[int, msgspec.Meta(ge=0, le=(1 << 32) - 1)]
U64: TypeAlias = Annotated[int, msgspec.Meta(ge=0)]  # msgspec itself stops at 2^64 - 1
I32: TypeAlias = Annotated[int, msgspec.Meta(ge=-(1 << 31), le=(1 << 31) - 1)]
I64: TypeAlias = Annotated[int, msgspec.Meta(ge=-(1 << 63), le=(1 << 63) - 1)]
