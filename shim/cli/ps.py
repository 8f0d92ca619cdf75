"""`ps`: the container's processes, as host `ps` output cut to its lines, or a pid list."""

from __future__ import annotations

import sys

from shim.cli.common import store_of as _store
from shim.errors import ShimError, os_error_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cli.args import Invocation

PS_TIMEOUT = 30.0


def cmd_ps(inv: Invocation) -> int:
    from shim.runtime.ps import container_pids

    fmt = inv.flag_str("format")
    if fmt not in ("table", "json"):
        raise ShimError("invalid format option")
    pids = container_pids(_store(inv), inv.args[0])
    if fmt == "json":
        from shim.json_codec import dumps

        sys.stdout.write((dumps(pids) if pids else "null") + "\n")
    else:
        sys.stdout.write(ps_table(pids, inv.args[1:]))
    return 0


def ps_table(pids: list[int], ps_args: list[str]) -> str:
    """runc's table: host `ps` (default `-ef`), its header, then the lines of `pids`.

    Raises ShimError when `ps` fails (with its output) or prints no PID column.
    """
    import subprocess

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
        raise ShimError(f"ps: {os_error_text(err)}") from None
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
