"""Resource limits, set by the parent with prlimit: inside a user namespace the process
could not raise its own hard limits."""

from __future__ import annotations

import resource
from typing import TYPE_CHECKING

from shim.errors import InitFailed
from shim.spec.kernel_names import RLIMITS

if TYPE_CHECKING:
    from shim.spec.model import Rlimit


def apply_rlimits(pid: int, rlimits: list[Rlimit]) -> None:
    for rl in rlimits:
        try:
            resource.prlimit(pid, RLIMITS[rl.type], (rl.soft, rl.hard))
        except (OSError, ValueError) as err:
            raise InitFailed(
                f"unable to start container process: setrlimit {rl.type}: {err}"
            ) from None
