"""python -m conformance check|write|table: the shell around the sans-IO modules.

check OUTDIR: compare a run with expected.txt; exit 1 on a regression.
write OUTDIR: rewrite expected.txt from a run (after `check` said it got better).
table NAME=OUTDIR ...: the README table of several runtimes' runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.compare import compare, format_report
from conformance.expected import format_expected, parse_expected, parse_reasons
from conformance.results import Run, Summary, build_run, parse_summary
from conformance.table import format_table

HERE = Path(__file__).resolve().parent
HEADER = [
    "Test points shim passes in the OCI runtime-tools validation suite (pass lines), and",
    "its failures that reasons.txt does not explain (fail lines: bugs still to fix).",
    "Checked by conformance/run.sh. Generated: after a run that `check` reports as better,",
    "rewrite it with `python -m conformance write OUTDIR`, never by hand.",
]


def _load(outdir: Path) -> tuple[Summary, Run]:
    summary = parse_summary((outdir / "summary.txt").read_text())
    taps = {}
    for name in summary.rows:
        tap = outdir / "tap" / f"{name}.tap"
        taps[name] = tap.read_text(errors="replace") if tap.exists() else ""
    return summary, build_run(summary, taps)


def _check(args: argparse.Namespace) -> int:
    _, run = _load(args.outdir)
    expected = parse_expected(args.expected.read_text())
    reasons = parse_reasons(args.reasons.read_text())
    report = compare(expected, reasons, run, partial=args.partial)
    print("\n".join(format_report(report, run)))
    return 1 if report.failed else 0


def _write(args: argparse.Namespace) -> int:
    summary, run = _load(args.outdir)
    if not summary.complete:
        print(f"{args.outdir}/summary.txt: the run did not finish", file=sys.stderr)
        return 2
    reasons = parse_reasons(args.reasons.read_text())
    header = [*HEADER, "", "Recorded from:", *summary.header[:2]]
    args.expected.write_text(format_expected(run, reasons, header))
    print(f"wrote {args.expected}: {sum(run.passes.values())} passes")
    return 0


def _table(args: argparse.Namespace) -> int:
    summaries: dict[str, Summary] = {}
    for item in args.runs:
        name, sep, outdir = item.partition("=")
        if not sep:
            print(f"table: want NAME=OUTDIR, got {item!r}", file=sys.stderr)
            return 2
        summaries[name] = parse_summary((Path(outdir) / "summary.txt").read_text())
    print("\n".join(format_table(summaries)))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m conformance",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("check", _check), ("write", _write)):
        cmd = sub.add_parser(name)
        cmd.add_argument("outdir", type=Path, help="the tool's OUTDIR (summary.txt, tap/)")
        cmd.add_argument("--expected", type=Path, default=HERE / "expected.txt")
        cmd.add_argument("--reasons", type=Path, default=HERE / "reasons.txt")
        cmd.set_defaults(func=func)
        if name == "check":
            cmd.add_argument(
                "--partial",
                action="store_true",
                help="a run of chosen programs (OCI_TESTS): compare only those",
            )
    table = sub.add_parser("table")
    table.add_argument("runs", nargs="+", metavar="NAME=OUTDIR")
    table.set_defaults(func=_table)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except (OSError, ValueError) as err:
        print(f"conformance {args.command}: {err}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
