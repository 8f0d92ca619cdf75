"""expected.txt and reasons.txt: what shim is held to, as text and back (sans-IO).

expected.txt is written by `python -m conformance write`, one line per point:

    pass linux_cgroups_cpus: cpus is set correctly
    pass x6 linux_cgroups_memory: memory limit is set correctly
    fail poststart_fail: ERR

`pass` lines are the points shim passes; `fail` lines the failures it still has
that reasons.txt does not explain (bugs to fix); `accept` lines the failures a reason
explains (so that a program with nothing else recorded is still missed when it does
not run); `xN` a point seen N times.

reasons.txt is written by hand, one failure we accept per line:

    program: pattern | tag | why

`pattern` is an fnmatch pattern on the point's description, `tag` one of TAGS. The
program's own failure (the point `ERR`) is accepted only for the error it had: the
pattern is `ERR <fnmatch pattern on the tool's note>`, e.g. `ERR exit 1: *hugetlb*`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from conformance.results import ERR, Key, Run

TAGS = {
    "host": "this machine lacks what the test needs; every runtime fails here",
    "test": "the test itself is wrong; every runtime fails it",
    "peers": "shim does what runc (and crun) do, which the test does not expect",
    "policy": "shim refuses this on purpose",
}
_LINE = re.compile(r"^(pass|fail|accept)(?: x(\d+))? ([^\s:]+): (.*)$")


@dataclass(frozen=True, slots=True)
class Expected:
    """The recorded passes and open failures, and the header comments."""

    passes: Counter[Key]
    fails: Counter[Key]
    header: list[str]
    accepts: Counter[Key] = field(default_factory=Counter)

    @property
    def programs(self) -> set[str]:
        """Every program with anything recorded: all of them must run."""
        return {p for points in (self.passes, self.fails, self.accepts) for p, _ in points}


@dataclass(frozen=True, slots=True)
class Reason:
    """A failure we accept, and why."""

    program: str
    pattern: str
    tag: str
    why: str

    def matches(self, key: Key, note: str = "") -> bool:
        """Whether this reason explains the failure `key`; an `ERR` point is matched on
        the program's note (why it failed), never on the bare word."""
        if key[0] != self.program:
            return False
        if key[1] == ERR:
            head, _, why = self.pattern.partition(" ")
            return head == ERR and fnmatchcase(note, why)
        return fnmatchcase(key[1], self.pattern)


def parse_expected(text: str) -> Expected:
    """Read expected.txt. Raises ValueError naming the first bad line."""
    kinds: dict[str, Counter[Key]] = {"pass": Counter(), "fail": Counter(), "accept": Counter()}
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
        kinds[kind][(program, description)] += n
    return Expected(kinds["pass"], kinds["fail"], header, kinds["accept"])


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
        if pattern.split(" ")[0] == ERR and not pattern.partition(" ")[2].strip():
            raise ValueError(
                f"reasons.txt:{number}: a whole-program failure is accepted only for its "
                "error: 'ERR <pattern on the note>'"
            )
        if fnmatchcase(ERR, pattern):
            raise ValueError(f"reasons.txt:{number}: {pattern!r} would accept any ERR")
        reasons.append(Reason(head, pattern, tag, why))
    return reasons


def explained(key: Key, reasons: Iterable[Reason], note: str = "") -> Reason | None:
    """The first reason that accepts this failure (with the program's note), if any."""
    return next((r for r in reasons if r.matches(key, note)), None)


def format_expected(run: Run, reasons: list[Reason], header: list[str]) -> str:
    """expected.txt for a run: its passes, its failures no reason explains, and the ones
    a reason explains. Lines follow the run's program order, then each program's points."""
    lines = [f"# {h}" if h else "#" for h in header]
    for program in run.programs:
        note = run.notes.get(program, "")
        for (prog, description), n in run.passes.items():
            if prog == program:
                lines.append(_line("pass", prog, description, n))
        for (prog, description), n in run.failures.items():
            if prog == program:
                kind = "accept" if explained((prog, description), reasons, note) else "fail"
                lines.append(_line(kind, prog, description, n))
    return "\n".join(lines) + "\n"


def _line(kind: str, program: str, description: str, n: int) -> str:
    count = f" x{n}" if n > 1 else ""
    return f"{kind}{count} {program}: {description}"
