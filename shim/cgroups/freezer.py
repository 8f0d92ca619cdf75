"""Freezing and thawing a cgroup: the v1 freezer controller or v2's `cgroup.freeze`.

v1 (runc 1.1's retry loop): write FROZEN and read the state back until it says
FROZEN; a cgroup whose tasks keep forking can stick in FREEZING, so every 50th
try thaws and sleeps 10 ms first; after 1000 tries it is thawed again and the
freeze fails. v2: write 1 to `cgroup.freeze`, then wait (bounded) until
`cgroup.events` says `frozen 1`.
"""

from __future__ import annotations

import time

from shim.cgroups import fs
from shim.errors import CgroupError

V1_TRIES = 1000
V2_TIMEOUT = 10.0  # seconds, as runc: 1000 reads 10 ms apart


def freeze_v1(directory: str) -> None:
    """Freeze a v1 freezer cgroup; `CgroupError` if it will not settle in FROZEN."""
    path = f"{directory}/freezer.state"
    for attempt in range(V1_TRIES):
        if attempt % 50 == 49:
            _try_write(path, "THAWED")  # new tasks keep appearing: let them settle
            time.sleep(0.01)
        fs.write(path, "FROZEN", "pause")
        if attempt % 25 == 24:
            time.sleep(0.00001)
        state = (fs.read(path) or "").strip()
        if state == "FROZEN":
            return
        if state != "FREEZING":
            raise CgroupError(f"pause: unexpected state {state!r} while freezing {directory}")
    _try_write(path, "THAWED")  # never leave it half-frozen
    raise CgroupError(f"pause: unable to freeze {directory}")


def thaw_v1(directory: str) -> None:
    fs.write(f"{directory}/freezer.state", "THAWED", "resume")


def freeze_v2(directory: str, timeout: float = V2_TIMEOUT) -> None:
    """Freeze a cgroup v2 directory and wait until the kernel reports it frozen."""
    fs.write(f"{directory}/cgroup.freeze", "1", "pause")
    _wait_frozen(directory, True, timeout)


def thaw_v2(directory: str, timeout: float = V2_TIMEOUT) -> None:
    fs.write(f"{directory}/cgroup.freeze", "0", "resume")
    _wait_frozen(directory, False, timeout)


def v2_frozen(directory: str) -> bool:
    """What `cgroup.events` says (the effective state, not just the request)."""
    return _events(directory).get("frozen") == 1


def _wait_frozen(directory: str, want: bool, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.001
    while v2_frozen(directory) != want:
        if fs.read(f"{directory}/cgroup.events") is None:
            return  # the cgroup went away: nothing left to (un)freeze
        if time.monotonic() >= deadline:
            what = "freeze" if want else "thaw"
            raise CgroupError(f"timeout of {timeout:g}s reached waiting for {directory} to {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.01)


def _events(directory: str) -> dict[str, int]:
    return fs.read_kv(f"{directory}/cgroup.events")


def _try_write(path: str, value: str) -> None:
    try:
        fs.write_raw(path, value)
    except OSError:
        pass  # best effort on the way out; the caller reports the real failure
