"""`state` and `list`: the OCI state JSON of one container, every container as a table or JSON."""

from __future__ import annotations

import sys

from shim.cli.common import store_of as _store
from shim.errors import ShimError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from shim.cli.args import Invocation


def cmd_state(inv: Invocation) -> int:
    from shim.json_codec import dumps
    from shim.runtime.query import container_state

    sys.stdout.write(dumps(container_state(_store(inv), inv.args[0]), indent=2))
    return 0


def cmd_list(inv: Invocation) -> int:
    from shim.runtime.query import list_containers

    fmt = inv.flag_str("format")
    if fmt not in ("table", "json"):
        raise ShimError("invalid format option")
    states, warnings = list_containers(_store(inv))
    for warning in warnings:
        sys.stderr.write(warning + "\n")
    if inv.flag_bool("quiet"):
        sys.stdout.write("".join(f"{s['id']}\n" for s in states))
    elif fmt == "json":
        from shim.json_codec import dumps

        sys.stdout.write((dumps(states) if states else "null") + "\n")
    else:
        sys.stdout.write(format_table(states))
    return 0


def format_table(states: list[dict[str, object]]) -> str:
    """runc's tabwriter table: min width 12, padding 3."""
    rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
    rows += [
        [str(s[k]) for k in ("id", "pid", "status", "bundle", "created", "owner")] for s in states
    ]
    widths = [max(12, max(len(r[i]) for r in rows) + 3) for i in range(len(rows[0]) - 1)]
    return "".join(
        "".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + r[-1] + "\n" for r in rows
    )
