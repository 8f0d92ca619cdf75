"""Runs of several runtimes side by side, as the Markdown table in README (sans-IO)."""

from __future__ import annotations

from dataclasses import dataclass

from conformance.results import ProgramRow, Summary


@dataclass(frozen=True, slots=True)
class Totals:
    """The tool's totals, and the passes that count: those of programs that did not fail."""

    passed: int
    failed: int
    skipped: int
    passed_in_failed: int
    clean: int
    programs: int

    @property
    def fair(self) -> int:
        return self.passed - self.passed_in_failed


def totals(summary: Summary) -> Totals:
    rows = list(summary.rows.values())
    return Totals(
        passed=sum(r.ok for r in rows),
        failed=sum(r.not_ok + r.err for r in rows),
        skipped=sum(r.skip for r in rows),
        passed_in_failed=sum(r.ok for r in rows if r.err),
        clean=sum(1 for r in rows if not r.not_ok and not r.err),
        programs=len(rows),
    )


def _cell(row: ProgramRow | None) -> str:
    if row is None:
        return "-"
    cell = f"{row.ok}/{row.not_ok}/{row.skip}"
    return f"{cell} **ERR**" if row.err else cell


def format_table(summaries: dict[str, Summary]) -> list[str]:
    """One row per program (ok/not ok/skip, ERR when the program failed), then totals."""
    names = list(summaries)
    programs: list[str] = []
    for summary in summaries.values():
        programs += [p for p in summary.rows if p not in programs]
    out = [
        "| program | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for program in programs:
        cells = [_cell(summaries[n].rows.get(program)) for n in names]
        out.append(f"| {program} | " + " | ".join(cells) + " |")
    sums = [totals(summaries[n]) for n in names]
    rows = {
        "passed (the tool's count)": [str(t.passed) for t in sums],
        "failed (not ok + ERR)": [str(t.failed) for t in sums],
        "skipped": [str(t.skipped) for t in sums],
        "passed inside programs that failed": [str(t.passed_in_failed) for t in sums],
        "**passed, fair count** (passed minus the row above)": [f"**{t.fair}**" for t in sums],
        "programs without any failure": [f"{t.clean}/{t.programs}" for t in sums],
    }
    out += [f"| {title} | " + " | ".join(cells) + " |" for title, cells in rows.items()]
    return out
