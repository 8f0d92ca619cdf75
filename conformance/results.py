"""One run of the validation tool as data: summary.txt rows and TAP test points.

Sans-IO: every function takes the text of a file. A test point is named by its
program and its description (numbers shift when an earlier point comes or goes);
a program's own failure (exit status, timeout, an `error:` diagnostic and no
point) is the point `ERR`, and a program that printed no point and exited 0 is
the point `(no test point, exit 0)`, as the tool counts it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

ERR = "ERR"
NO_POINT_PASS = "(no test point, exit 0)"

# name ok not_ok skip err secs [note]; the tool writes one row per program, then TOTAL.
_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([01])\s+(\d+(?:\.\d+)?)(?:\s+(.*))?$")
# Only points at column 0: RuntimeInsideValidate nests the container's own TAP in
# an indented YAML block, and those lines are not points of the program.
_POINT = re.compile(r"^(not ok|ok)\b(?: (\d+))?(.*)$")
_SKIP = re.compile(r"#\s*SKIP", re.IGNORECASE)  # the tool's test, anywhere on the line
_DIRECTIVE = re.compile(r"\s*#\s*(?:SKIP|TODO)\b.*$", re.IGNORECASE)
# What differs from run to run: temp dirs, container ids.
_VOLATILE = (
    (re.compile(r"/\S*/run\.[A-Za-z0-9]{6}\b"), "$RUN"),
    (re.compile(r"\bocitest\d+"), "ocitest*"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<id>"),
)

Key = tuple[str, str]  # (program, description)


@dataclass(frozen=True, slots=True)
class ProgramRow:
    """One row of summary.txt."""

    name: str
    ok: int
    not_ok: int
    skip: int
    err: bool
    note: str


@dataclass(frozen=True, slots=True)
class Summary:
    """summary.txt: the rows in order, and whether the run got to its TOTAL line."""

    rows: dict[str, ProgramRow]
    complete: bool
    header: list[str]


@dataclass(frozen=True, slots=True)
class Point:
    """A top-level TAP point; `passed` is None for a skipped (or TODO-failed) one."""

    passed: bool | None
    description: str


def parse_summary(text: str) -> Summary:
    """Read summary.txt. Raises ValueError on a line that is none of its kinds."""
    rows: dict[str, ProgramRow] = {}
    header: list[str] = []
    complete = False
    for line in text.splitlines():
        if line.startswith("#"):
            header.append(line[1:].strip())
            continue
        if not line.strip() or line.startswith(("test ", "programs without")):
            continue
        if re.match(r"^\d+ passed, \d+ failed, \d+ skipped$", line):
            continue
        if line.startswith("TOTAL "):
            complete = True
            continue
        m = _ROW.match(line)
        if m is None:
            raise ValueError(f"summary.txt: unreadable line {line!r}")
        name, ok, nok, skip, err, _secs, note = m.groups()
        rows[name] = ProgramRow(name, int(ok), int(nok), int(skip), err == "1", note or "")
    return Summary(rows, complete, header)


def normalize(description: str) -> str:
    """A description with its run-specific parts (temp dirs, ids) replaced."""
    for pattern, repl in _VOLATILE:
        description = pattern.sub(repl, description)
    return " ".join(description.split())


def parse_tap(text: str) -> list[Point]:
    """The top-level points of one program's TAP output, in order."""
    points: list[Point] = []
    for line in text.splitlines():
        m = _POINT.match(line)
        if m is None:
            continue
        verdict, number, rest = m.groups()
        skipped = (verdict == "ok" and _SKIP.search(line) is not None) or (
            verdict == "not ok" and re.search(r"#\s*TODO\b", line) is not None
        )
        description = _DIRECTIVE.sub("", rest).strip()
        description = description.removeprefix("-").strip() or f"#{number or '?'}"
        points.append(Point(None if skipped else verdict == "ok", normalize(description)))
    return points


@dataclass(frozen=True, slots=True)
class Run:
    """Passing and failing points of a run, as multisets of (program, description)."""

    programs: list[str]
    passes: Counter[Key]
    failures: Counter[Key]
    # Passes in programs that failed as a whole (e.g. runtimetest's report from a
    # container the runtime should have refused): counted apart for fair totals.
    passes_in_failed: Counter[Key]
    notes: dict[str, str]
    complete: bool


def build_run(summary: Summary, taps: dict[str, str]) -> Run:
    """Combine summary.txt with each program's TAP text (missing TAP: no points)."""
    passes: Counter[Key] = Counter()
    failures: Counter[Key] = Counter()
    in_failed: Counter[Key] = Counter()
    for name, row in summary.rows.items():
        points = [p for p in parse_tap(taps.get(name, "")) if p.passed is not None]
        for point in points:
            key = (name, point.description)
            if not point.passed:
                failures[key] += 1
            elif row.err:
                in_failed[key] += 1
            else:
                passes[key] += 1
        if row.err:
            failures[(name, ERR)] += 1
        elif not points and row.ok:
            passes[(name, NO_POINT_PASS)] += 1
    return Run(
        list(summary.rows),
        passes,
        failures,
        in_failed,
        {n: r.note for n, r in summary.rows.items()},
        summary.complete,
    )
