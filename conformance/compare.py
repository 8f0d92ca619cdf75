"""A run against expected.txt and reasons.txt: what regressed, what got better (sans-IO).

A regression is a recorded pass that is gone (failing, skipped or missing), or a
failure that is neither recorded as open nor explained by a reason (a program's
own failure only by a reason for the error it had), or a program of the suite
that did not run (also one whose failures were all accepted). New passes and fixed
failures only ask for expected.txt to be raised (`python -m conformance write`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from conformance.expected import Expected, Reason, explained
from conformance.results import Key, Run


@dataclass(slots=True)
class Report:
    """What `check` found. `failed` decides the exit status."""

    regressions: Counter[Key] = field(default_factory=Counter)
    new_failures: Counter[Key] = field(default_factory=Counter)
    not_run: list[str] = field(default_factory=list)
    new_passes: Counter[Key] = field(default_factory=Counter)
    fixed: Counter[Key] = field(default_factory=Counter)
    still_open: Counter[Key] = field(default_factory=Counter)
    accepted: dict[Key, tuple[int, Reason]] = field(default_factory=dict)
    incomplete: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.regressions or self.new_failures or self.not_run or self.incomplete)


def compare(
    expected: Expected, reasons: list[Reason], run: Run, *, partial: bool = False
) -> Report:
    """Compare a run with what is expected.

    With `partial` (a run of chosen programs), programs absent from the run are
    left out of the comparison instead of counting as regressions.
    """
    ran = set(run.programs)
    report = Report(incomplete=not run.complete and not partial)
    if not partial:  # a program with only accepted failures must run too
        report.not_run = sorted(expected.programs - ran)
    passes = _only(expected.passes, ran)
    fails = _only(expected.fails, ran)
    report.regressions = passes - run.passes
    report.new_passes = run.passes - passes
    unexplained: Counter[Key] = Counter()
    for key, n in run.failures.items():
        reason = explained(key, reasons, run.notes.get(key[0], ""))
        if reason is None:
            unexplained[key] = n
        else:
            report.accepted[key] = (n, reason)
    report.new_failures = unexplained - fails
    report.still_open = unexplained & fails
    report.fixed = fails - run.failures
    return report


def _only(points: Counter[Key], programs: set[str]) -> Counter[Key]:
    return Counter({k: n for k, n in points.items() if k[0] in programs})


def _lines(title: str, points: Counter[Key], notes: dict[str, str]) -> list[str]:
    if not points:
        return []
    out = [f"{title} ({sum(points.values())}):"]
    for (program, description), n in points.items():
        count = f" (x{n})" if n > 1 else ""
        note = f" [{notes[program]}]" if description == "ERR" and notes.get(program) else ""
        out.append(f"  {program}: {description}{count}{note}")
    return out


def format_report(report: Report, run: Run) -> list[str]:
    """The report as lines for a CI log: problems first, then what can be raised."""
    out: list[str] = []
    if report.incomplete:
        out.append("INCOMPLETE RUN: summary.txt has no TOTAL line (the tool stopped early)")
    if report.not_run:
        out.append(f"NOT RUN ({len(report.not_run)}): {' '.join(report.not_run)}")
    sections = (
        ("REGRESSION: recorded passes now failing, skipped or missing", report.regressions),
        (
            "REGRESSION: new failures (not in expected.txt, no reason in reasons.txt)",
            report.new_failures,
        ),
        ("NEW PASS: raise expected.txt (python -m conformance write OUTDIR)", report.new_passes),
        ("FIXED: recorded failures now gone (raise expected.txt)", report.fixed),
    )
    for title, points in sections:
        out += _lines(title, points, run.notes)
    accepted = sum(n for n, _ in report.accepted.values())
    passed = sum(run.passes.values())
    out.append(
        f"conformance: {passed} points passed, {sum(report.still_open.values())} open failures"
        f" (bugs, in expected.txt), {accepted} accepted failures (reasons.txt)"
    )
    out.append("conformance: REGRESSION" if report.failed else "conformance: no regression")
    return out
