"""Which criu we talk to, and whether it can do the job on this kernel."""

from __future__ import annotations

from shim.criu import rpc_pb2 as rpc
from shim.criu.swrk import run_swrk
from shim.errors import CriuError, CriuTooOld

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cancel import CancelToken
    from shim.children import ChildReaper

# The VERSION request itself appeared in criu 3.0 (runc relies on it too).
RPC_MINIMUM = (3, 0, 0)
# Kernels whose vDSO has a [vvar_vclock] mapping (Linux 6.12+) need criu 4.1: older
# criu fails `criu check` and every dump on them (Debian bookworm's 3.17 does here).
VCLOCK_MINIMUM = (4, 1, 0)
VCLOCK_MAPPING = b"[vvar_vclock]"


class CriuVersion:
    __slots__ = ("gitid", "major", "minor", "sublevel")

    def __init__(self, major: int, minor: int, sublevel: int = 0, gitid: str = "") -> None:
        self.major, self.minor, self.sublevel, self.gitid = major, minor, sublevel, gitid

    def triple(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.sublevel)

    def __str__(self) -> str:
        return ".".join(str(n) for n in self.triple())


def criu_version(
    binary: str, reaper: ChildReaper, cancel: CancelToken | None = None, timeout: float = 30.0
) -> CriuVersion:
    """Ask criu for its version over swrk (no command-line parsing)."""
    try:
        resp = run_swrk(
            rpc.criu_req(type=rpc.VERSION),
            reaper=reaper,
            binary=binary,
            timeout=timeout,
            cancel=cancel,
        )
    except CriuError as err:
        raise CriuError(f"CRIU version check failed: {err}") from None
    v = resp.version
    return CriuVersion(v.major_number, v.minor_number, v.sublevel, v.gitid)


def _kernel_has_vclock() -> bool:
    with open("/proc/self/maps", "rb") as f:
        return VCLOCK_MAPPING in f.read()


def minimum_version() -> tuple[tuple[int, int, int], str]:
    """The oldest criu this kernel works with, and why."""
    if _kernel_has_vclock():
        return VCLOCK_MINIMUM, "this kernel's vDSO has a [vvar_vclock] mapping"
    return RPC_MINIMUM, "the version RPC"


def require_version(
    binary: str, reaper: ChildReaper, cancel: CancelToken | None = None
) -> CriuVersion:
    """criu's version if it is new enough for this kernel; CriuTooOld otherwise."""
    version = criu_version(binary, reaper, cancel)
    minimum, why = minimum_version()
    if version.triple() < minimum:
        want = ".".join(str(n) for n in minimum[:2])
        raise CriuTooOld(
            f"criu {version} ({binary}) is too old: checkpoint/restore need criu >= {want} "
            f"here ({why}); scripts/build-criu.sh builds one, --criu PATH selects it"
        )
    return version


def criu_features(
    binary: str,
    wanted: rpc.criu_features,
    reaper: ChildReaper,
    cancel: CancelToken | None = None,
) -> rpc.criu_features:
    """FEATURE_CHECK: which of `wanted` criu and this kernel support."""
    try:
        resp = run_swrk(
            rpc.criu_req(type=rpc.FEATURE_CHECK, features=wanted),
            reaper=reaper,
            binary=binary,
            cancel=cancel,
        )
    except CriuError as err:
        raise CriuError(f"CRIU feature check failed: {err}") from None
    return resp.features
