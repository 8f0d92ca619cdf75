"""Quoting criu's log after a failure: its "Error" lines with a little context (runc 1.2's
logCriuErrors), so that the reason shows without opening the file."""

from __future__ import annotations

from shim.errors import CriuError
from shim.logs import get_logger

CONTEXT = 5  # lines before each error line
# Errors criu logs and then goes on from: not the reason a dump or restore failed.
# (RLIMIT_NOFILE: criu tries to raise its own limit; without CAP_SYS_RESOURCE it cannot.)
# (tun: criu probes whether it may create tun devices, at every start.)
BENIGN = ("rlimit: Can't setup RLIMIT_NOFILE", "tun: Unable to create tun")


def error_lines(path: str, limit: int = 40) -> list[str]:
    """`N:text` for each line holding "Error" and the CONTEXT lines before it; "..." marks
    a gap. Empty if the file cannot be read (criu may have failed before opening it)."""
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    wanted: list[int] = []
    for number, line in enumerate(lines):
        if "Error" in line:
            wanted += [n for n in range(max(0, number - CONTEXT), number + 1) if n not in wanted]
    out: list[str] = []
    previous = -1
    for n in wanted:
        if previous >= 0 and n > previous + 1:
            out.append("...")
        out.append(f"{n + 1}:{lines[n]}")
        previous = n
    return out[-limit:]


def first_error(path: str) -> str:
    """criu's first error message in the log ("" if none), without its prefix."""
    for line in error_lines(path, limit=10_000):
        _, _, text = line.partition("Error (")
        message = text.split("): ", 1)[-1].strip()
        if message and not message.startswith(BENIGN):
            return message
    return ""


def with_log(err: CriuError, log_file: str) -> CriuError:
    """`err` with criu's own reason and where its log is; the log's errors as warnings."""
    log = get_logger()
    quoted = error_lines(log_file)
    if quoted:
        log.warning(f"--- Quoting {log_file!r}")
        for line in quoted:
            log.warning(line)
        log.warning("---")
    # criu's own cr_errmsg is its first error, often one it went on from (BENIGN):
    # the log's first real one says more.
    reason = first_error(log_file) or err.detail
    text = f"{err}: {reason}" if reason else str(err)
    return type(err)(f"{text}\nlog file: {log_file}", err.detail)
