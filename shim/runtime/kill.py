"""`kill`: a signal to the init (through a pidfd, so a recycled pid is never hit), or to every
process of the container's cgroup with `--all` (frozen while signalled, thawed after)."""

from __future__ import annotations

import _signal  # the C module: `signal` builds enums at import, ~2 ms
import os

from shim.errors import Internal, InvalidConfig, WrongState
from shim.runtime.container import Container
from shim.runtime.status import PAUSED, STOPPED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.runtime.state_store import StateStore


def parse_signal(text: str) -> int:
    """runc's rules: a number, or a name with or without SIG, any case."""
    if text.lstrip("-").isdigit():
        num = int(text)
        if num < 0 or num >= _signal.NSIG:
            raise InvalidConfig("unable to signal init: invalid argument")
        return num
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    known = (
        name.isidentifier() and not name.startswith("SIG_") and name not in ("SIGRTMIN", "SIGRTMAX")
    )
    sig = getattr(_signal, name, None) if known else None
    if not isinstance(sig, int):
        raise InvalidConfig(f"unknown signal {text!r}".replace("'", '"'))
    return int(sig)


def _signal_init(container: Container, sig: int) -> None:
    pidfd = container.open_init()
    try:
        _signal.pidfd_send_signal(pidfd, sig)
    except ProcessLookupError:
        raise WrongState("container not running") from None
    except OSError as err:
        reason = err.strerror.lower() if err.strerror else str(err)
        raise Internal(f"unable to signal init: {reason}") from err
    finally:
        os.close(pidfd)


def kill_container(
    store: StateStore, container_id: str, sig: int, all_processes: bool = False
) -> None:
    with Container.open(store, container_id) as container:
        status, paths = container.status, container.state.cgroup_paths
        if all_processes:
            # runc: freeze, signal every pid of the cgroup, thaw (so a paused container ends
            # up running); a silent success on a stopped container, whose pid 1 is gone.
            if paths:
                from shim.cgroups.manager import manager_for

                manager_for(paths).signal_all(sig)
            if status == STOPPED:
                return
        container.require("kill")
        if not all_processes:
            _signal_init(container, sig)
            if status == PAUSED and sig == _signal.SIGKILL:
                from shim.cgroups.manager import manager_for

                # A frozen task dies only once thawed (v1); runc thaws for SIGKILL alone.
                manager_for(paths).thaw()
