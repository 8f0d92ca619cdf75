"""`ps`: the processes of a container's cgroup, as a pid list or filtered host `ps` output."""

from __future__ import annotations

import subprocess

from shim.errors import ShimError
from shim.runtime.container import Container

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.runtime.state_store import StateStore

PS_TIMEOUT = 30.0


def container_pids(store: StateStore, container_id: str) -> list[int]:
    """Host pids in the container's cgroup tree (empty once it has stopped)."""
    with Container.open(store, container_id) as target:
        target.require("ps")
        return target.manager().pids() if target.state.cgroup_paths else []


def ps_table(pids: list[int], ps_args: list[str]) -> str:
    """runc's table: host `ps` (default `-ef`), its header, then the lines of `pids`.

    Raises ShimError when `ps` fails (with its output) or prints no PID column.
    """
    try:
        proc = subprocess.run(
            ["ps", *(ps_args or ["-ef"])],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=PS_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ShimError(f"ps: {err}") from None
    output = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        raise ShimError(f"exit status {proc.returncode}: {output}")
    return filter_ps_output(output, pids)


def filter_ps_output(output: str, pids: list[int]) -> str:
    """The header and the lines whose PID column is one of `pids` (sans-IO)."""
    lines = output.split("\n")
    header = lines[0].split()
    if "PID" not in header:
        raise ShimError("couldn't find PID field in ps output")
    index, wanted = header.index("PID"), set(pids)
    kept = [lines[0]]
    for line in lines[1:]:
        fields = line.split()
        if not fields:
            continue
        try:
            pid = int(fields[index])
        except (IndexError, ValueError):
            raise ShimError(f"unable to parse pid: {line!r}") from None
        if pid in wanted:
            kept.append(line)
    return "".join(f"{line}\n" for line in kept)
