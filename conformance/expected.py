"""expected.txt and reasons.txt: what shim is held to, as text and back (sans-IO).

expected.txt is written by `python -m conformance write`, one line per point:

    pass linux_cgroups_cpus: cpus is set correctly
    pass x6 linux_cgroups_memory: memory limit is set correctly
    fail poststart_fail: ERR

`pass` lines are the points shim passes; `fail` lines the failures it still has
that reasons.txt does not explain (bugs to fix); `xN` a point seen N times.

reasons.txt is written by hand, one failure we accept per line:

    program: pattern | tag | why

`pattern` is an fnmatch pattern on the point's description (`ERR` for the
program's own failure), `tag` one of TAGS.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from conformance.results import Key, Run

TAGS = {
    "host": "this machine lacks what the test needs; every runtime fails here",
    "test": "the test itself is wrong; every runtime fails it",
    "peers": "shim does what runc (and crun) do, which the test does not expect",
    "policy": "shim refuses this on purpose",
}
_LINE = re.compile(r"^(pass|fail)(?: x(\d+))? ([^\s:]+): (.*)$")


@dataclass(frozen=True, slots=True)
class Expected:
    """The recorded passes and open failures, and the header comments."""

    passes: Counter[Key]
    fails: Counter[Key]
    header: list[str]


@dataclass(frozen=True, slots=True)
class Reason:
    """A failure we accept, and why."""

    program: str
    pattern: str
    tag: str
    why: str

    def matches(self, key: Key) -> bool:
        return key[0] == self.program and fnmatchcase(key[1], self.pattern)


def parse_expected(text: str) -> Expected:
    """Read expected.txt. Raises ValueError naming the first bad line."""
    passes: Counter[Key] = Counter()
    fails: Counter[Key] = Counter()
    header: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#"):
            header.append(line[1:].strip())
            continue
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            raise ValueError(f"expected.txt:{number}: unreadable line {line!r}")
        kind, count, program, description = m.groups()
        n = int(count) if count else 1
        if n < 1:
            raise ValueError(f"expected.txt:{number}: count must be at least 1")
        (passes if kind == "pass" else fails)[(program, description)] += n
    return Expected(passes, fails, header)


def parse_reasons(text: str) -> list[Reason]:
    """Read reasons.txt. Raises ValueError naming the first bad line."""
    reasons: list[Reason] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        head, sep, rest = line.partition(": ")
        parts = rest.rsplit(" | ", 2)
        if not sep or " " in head or len(parts) != 3 or not all(p.strip() for p in parts):
            raise ValueError(f"reasons.txt:{number}: want 'program: pattern | tag | why'")
        pattern, tag, why = (p.strip() for p in parts)
        if tag not in TAGS:
            raise ValueError(f"reasons.txt:{number}: tag {tag!r} is not one of {sorted(TAGS)}")
        reasons.append(Reason(head, pattern, tag, why))
    return reasons


def explained(key: Key, reasons: Iterable[Reason]) -> Reason | None:
    """The first reason that accepts this failure, if any."""
    return next((r for r in reasons if r.matches(key)), None)


def format_expected(run: Run, reasons: list[Reason], header: list[str]) -> str:
    """expected.txt for a run: its passes, and its failures no reason explains.

    Lines follow the run's program order, then each program's point order.
    """
    lines = [f"# {h}" if h else "#" for h in header]
    for program in run.programs:
        for kind, points in (("pass", run.passes), ("fail", run.failures)):
            for (prog, description), n in points.items():
                if prog != program or (kind == "fail" and explained((prog, description), reasons)):
                    continue
                count = f" x{n}" if n > 1 else ""
                lines.append(f"{kind}{count} {prog}: {description}")
    return "\n".join(lines) + "\n"
