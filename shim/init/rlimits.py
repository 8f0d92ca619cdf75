"""Resource limits, set by the parent with prlimit: inside a user namespace the process
could not raise its own hard limits."""

from __future__ import annotations

import resource

from shim.errors import InitFailed, os_error_text
from shim.spec.kernel_names import RLIMITS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.spec.model import Rlimit


def apply_rlimits(pid: int, rlimits: list[Rlimit]) -> None:
    for rl in rlimits:
        try:
            resource.prlimit(pid, RLIMITS[rl.type], (_rlim_t(rl.soft), _rlim_t(rl.hard)))
        except (OSError, ValueError) as err:
            # runc's words; Python checks soft <= hard itself, the kernel says EINVAL
            reason = os_error_text(err) if isinstance(err, OSError) else "invalid argument"
            raise InitFailed(
                "unable to start container process: error setting rlimits for ready process: "
                f"error setting rlimit type {RLIMITS[rl.type]}: {reason}"
            ) from None


def _rlim_t(value: int) -> int:
    """The config's u64 as Python's `resource` takes it: a signed 64-bit rlim_t. So
    18446744073709551615 (RLIM_INFINITY, "unlimited" to runc and the kernel) is -1, and
    every value from 2^63 up is passed as the negative number with the same bits (an
    OverflowError otherwise: "internal error" for a valid config)."""
    return value - (1 << 64) if value >= 1 << 63 else value
