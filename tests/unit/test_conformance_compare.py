"""The conformance check's cores: summary/TAP parsing, expected.txt, reasons, compare, table."""

from __future__ import annotations

import pytest

from conformance.compare import compare, format_report
from conformance.expected import (
    Expected,
    format_expected,
    parse_expected,
    parse_reasons,
)
from conformance.results import (
    ERR,
    NO_POINT_PASS,
    Run,
    build_run,
    normalize,
    parse_summary,
    parse_tap,
)
from conformance.table import format_table, totals

SUMMARY = """\
# OCI runtime-tools validation, runtime-tools 0.9.0 (Debian source trixie), Go go1.19.8
# runtime: shim (shim version 0.1.0), kernel 6.18, 2026-11-23T17:09Z
test                                  ok not_ok  skip  err   secs  note
create                                 2      0     0    0    0.5  
linux_cgroups_memory                   2      1     0    0    2.8  
hooks                                  0      0     0    1    0.5  error diagnostic: Hooks
poststart                              1      0     0    0    0.3  no test point, exit 0
process_capabilities_fail            270      0    39    1    0.5  exit 1: Any value
TOTAL                                275      1    39    2     81
programs without any failure: 2/5 (failed = not ok test points + programs that exited non-zero)
275 passed, 3 failed, 39 skipped
"""  # noqa: W291 (the tool pads the note column)

TAPS = {
    "create": "TAP version 13\nok 1 - create MUST work\n  ---\n  reference: x\n  ...\n"
    "ok 2 - 'state' MUST return the state\n1..2\n",
    "linux_cgroups_memory": "TAP version 13\nok 1 - memory limit is set correctly\n"
    "not ok 2 - memory kernelTCP is set correctly\n# expect: 1, actual: 2\n"
    "ok 3 - memory limit is set correctly\n1..3\n",
    "hooks": "TAP version 13\n  ---\n  error: Hooks MUST be called in order\n  ...\n1..0\n",
    "poststart": "TAP version 13\n1..0\n",
    "process_capabilities_fail": "TAP version 13\nok 1 - has expected hostname\n"
    "ok 2 # SKIP linux.uidMappings not set\n1..2\n",
}


def _run(summary: str = SUMMARY, taps: dict[str, str] | None = None) -> Run:
    return build_run(parse_summary(summary), TAPS if taps is None else taps)


def test_summary_rows_notes_and_completeness() -> None:
    summary = parse_summary(SUMMARY)
    assert list(summary.rows) == [
        "create", "linux_cgroups_memory", "hooks", "poststart", "process_capabilities_fail",
    ]  # fmt: skip
    hooks = summary.rows["hooks"]
    assert (hooks.ok, hooks.err, hooks.note) == (0, True, "error diagnostic: Hooks")
    assert summary.complete
    assert summary.header[1].startswith("runtime: shim")


def test_summary_cut_short_is_incomplete() -> None:
    cut = SUMMARY.split("TOTAL")[0]
    assert not parse_summary(cut).complete


@pytest.mark.parametrize("garbage", ["create 1 2", "what is this", "x 1 2 3 7 0.5"])
def test_summary_refuses_unreadable_lines(garbage: str) -> None:
    with pytest.raises(ValueError, match="unreadable line"):
        parse_summary(SUMMARY + garbage + "\n")


def test_tap_reads_top_level_points_only() -> None:
    text = (
        "TAP version 13\n"
        "ok 1 - outer\n"
        "  ---\n"
        "  stdout: |\n"
        "    ok 1 - nested point of the container's runtimetest\n"
        "    not ok 2 - nested failure\n"
        "  ...\n"
        "not ok 2 - exit status 1\n"
    )
    points = parse_tap(text)
    assert [(p.passed, p.description) for p in points] == [
        (True, "outer"),
        (False, "exit status 1"),
    ]


def test_tap_skip_todo_and_missing_description() -> None:
    text = (
        "ok 1 # SKIP linux.sysctl not set\n"
        "not ok 2 - wip # TODO later\n"
        "ok 3 - done # TODO\n"
        "ok 4 - \n"
        "ok 5\n"
        "okay this is not a point\n"
    )
    points = parse_tap(text)
    assert [(p.passed, p.description) for p in points] == [
        (None, "#1"),
        (None, "wip"),
        (True, "done"),
        (True, "#4"),
        (True, "#5"),
    ]


def test_normalize_hides_what_changes_between_runs() -> None:
    raw = (
        "stat /tmp/peers/oci/run.Vod2Rk/tmp/ocitest2490656378/output:  no such file"
        " (container 6cf8d23c-fa1b-4912-a341-d5eeb182512c)"
    )
    assert normalize(raw) == "stat $RUN/tmp/ocitest*/output: no such file (container <id>)"


def test_run_counts_program_outcomes_as_the_tool_does() -> None:
    run = _run()
    assert run.passes[("create", "create MUST work")] == 1
    assert run.passes[("linux_cgroups_memory", "memory limit is set correctly")] == 2
    assert run.failures[("linux_cgroups_memory", "memory kernelTCP is set correctly")] == 1
    assert run.failures[("hooks", ERR)] == 1
    assert run.passes[("poststart", NO_POINT_PASS)] == 1
    # A container the runtime should have refused reports its points: not passes.
    assert ("process_capabilities_fail", "has expected hostname") not in run.passes
    assert run.passes_in_failed[("process_capabilities_fail", "has expected hostname")] == 1
    assert run.failures[("process_capabilities_fail", ERR)] == 1
    assert run.notes["hooks"] == "error diagnostic: Hooks"


def test_run_without_a_tap_file_has_no_points() -> None:
    run = _run(taps={})
    assert ("create", "create MUST work") not in run.passes
    assert run.failures[("hooks", ERR)] == 1


REASONS = """\
# comment
hooks: ERR error diagnostic: Hooks* | test | the test compares the wrong strings
linux_cgroups_memory: memory kernel is * | host | kmem ignored by this kernel
"""


def test_reasons_parse_and_match_by_pattern() -> None:
    reasons = parse_reasons(REASONS)
    assert [(r.program, r.tag) for r in reasons] == [
        ("hooks", "test"),
        ("linux_cgroups_memory", "host"),
    ]
    assert reasons[1].matches(("linux_cgroups_memory", "memory kernel is set correctly"))
    assert not reasons[1].matches(("linux_cgroups_memory", "memory kernelTCP is set correctly"))
    assert not reasons[1].matches(("linux_cgroups_memory", "memory limit is set correctly"))
    assert not reasons[1].matches(("other", "memory kernel"))
    assert reasons[0].matches(("hooks", ERR), "error diagnostic: Hooks MUST be called")
    assert not reasons[0].matches(("hooks", ERR), "timeout")  # another error: not accepted
    assert not reasons[0].matches(("hooks", ERR))


def test_a_whole_program_failure_with_another_error_is_a_regression() -> None:
    expected = _expected_of(_run())
    other = SUMMARY.replace("error diagnostic: Hooks", "timeout")
    report = compare(expected, parse_reasons(REASONS), _run(other))
    assert report.failed
    assert report.new_failures == {("hooks", ERR): 1}


def test_a_vanished_program_with_only_accepted_failures_is_not_run() -> None:
    expected = _expected_of(_run())
    assert expected.accepts == {("hooks", ERR): 1}
    short = "\n".join(line for line in SUMMARY.splitlines() if not line.startswith("hooks"))
    report = compare(expected, parse_reasons(REASONS), _run(short))
    assert report.not_run == ["hooks"]
    assert report.failed


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("hooks ERR | test | why", "want 'program"),
        ("hooks: ERR | test", "want 'program"),
        ("hooks: ERR | nonsense | why", "is not one of"),
        ("hooks: ERR |  | why", "want 'program"),
        ("two words: ERR | test | why", "want 'program"),
        ("hooks: ERR | test | why", "only for its error"),
        ("hooks: * | test | why", "would accept any ERR"),
        ("hooks: E?R | test | why", "would accept any ERR"),
    ],
)
def test_reasons_refuse_bad_lines(line: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_reasons(line)


def test_expected_round_trips_a_run() -> None:
    run = _run()
    reasons = parse_reasons("hooks: ERR error diagnostic: * | test | why\n")
    text = format_expected(run, reasons, ["header", ""])
    assert text.splitlines()[:4] == [
        "# header",
        "#",
        "pass create: create MUST work",
        "pass create: 'state' MUST return the state",
    ]
    assert "pass x2 linux_cgroups_memory: memory limit is set correctly" in text
    assert "fail process_capabilities_fail: ERR" in text
    assert "accept hooks: ERR" in text  # explained by a reason: not an open failure
    assert "fail hooks" not in text
    expected = parse_expected(text)
    assert expected.passes == run.passes
    assert expected.header == ["header", ""]
    assert not compare(expected, reasons, run).failed


@pytest.mark.parametrize("garbage", ["passed create: x", "pass x0 create: y", "pass create x"])
def test_expected_refuses_bad_lines(garbage: str) -> None:
    with pytest.raises(ValueError, match=r"expected\.txt:1"):
        parse_expected(garbage)


def _expected_of(run: Run, reasons: str = REASONS) -> Expected:
    return parse_expected(format_expected(run, parse_reasons(reasons), []))


def test_a_lost_pass_is_a_regression() -> None:
    expected = _expected_of(_run())
    taps = dict(TAPS, create="ok 1 - create MUST work\nnot ok 2 - 'state' MUST return the state\n")
    report = compare(expected, parse_reasons(REASONS), _run(taps=taps))
    assert report.failed
    assert report.regressions == {("create", "'state' MUST return the state"): 1}
    assert report.new_failures == {("create", "'state' MUST return the state"): 1}
    lines = format_report(report, _run(taps=taps))
    assert "  create: 'state' MUST return the state" in lines
    assert lines[-1] == "conformance: REGRESSION"


def test_one_pass_fewer_of_a_repeated_point_is_a_regression() -> None:
    expected = _expected_of(_run())
    taps = dict(TAPS, linux_cgroups_memory="ok 1 - memory limit is set correctly\n")
    report = compare(expected, parse_reasons(REASONS), _run(taps=taps))
    assert report.regressions == {("linux_cgroups_memory", "memory limit is set correctly"): 1}


def test_a_skipped_pass_is_a_regression() -> None:
    expected = _expected_of(_run())
    taps = dict(TAPS, create="ok 1 - create MUST work\nok 2 # SKIP not today\n")
    report = compare(expected, parse_reasons(REASONS), _run(taps=taps))
    assert report.regressions == {("create", "'state' MUST return the state"): 1}
    assert not report.new_failures


def test_an_unexplained_new_failure_is_a_regression() -> None:
    expected = _expected_of(_run())
    taps = dict(TAPS, create=TAPS["create"] + "not ok 3 - brand new check\n")
    report = compare(expected, parse_reasons(REASONS), _run(taps=taps))
    assert report.failed
    assert not report.regressions
    assert report.new_failures == {("create", "brand new check"): 1}


def test_an_explained_failure_is_accepted() -> None:
    expected = _expected_of(_run())
    taps = dict(TAPS)
    taps["linux_cgroups_memory"] += "not ok 4 - memory kernel is set correctly\n"
    report = compare(expected, parse_reasons(REASONS), _run(taps=taps))
    assert not report.failed
    n, reason = report.accepted[("linux_cgroups_memory", "memory kernel is set correctly")]
    assert (n, reason.tag) == (1, "host")


def test_new_passes_and_fixed_failures_are_reported_not_fatal() -> None:
    expected = _expected_of(_run())
    memory = (
        "ok 1 - memory limit is set correctly\n"
        "ok 2 - memory kernelTCP is set correctly\n"
        "ok 3 - memory limit is set correctly\n"
    )
    taps = dict(TAPS, linux_cgroups_memory=memory)
    run = _run(taps=taps)
    report = compare(expected, parse_reasons(REASONS), run)
    assert not report.failed
    assert report.new_passes == {("linux_cgroups_memory", "memory kernelTCP is set correctly"): 1}
    assert report.fixed == {("linux_cgroups_memory", "memory kernelTCP is set correctly"): 1}
    lines = format_report(report, run)
    assert any(line.startswith("NEW PASS") for line in lines)
    assert lines[-1] == "conformance: no regression"


def test_a_missing_program_is_a_regression_unless_partial() -> None:
    expected = _expected_of(_run())
    short = "\n".join(line for line in SUMMARY.splitlines() if not line.startswith("create"))
    report = compare(expected, parse_reasons(REASONS), _run(short))
    assert report.not_run == ["create"]
    assert report.failed
    partial = compare(expected, parse_reasons(REASONS), _run(short), partial=True)
    assert not partial.failed
    assert not partial.regressions


def test_an_unfinished_run_fails_the_check() -> None:
    expected = _expected_of(_run())
    cut = SUMMARY.split("TOTAL")[0]
    report = compare(expected, parse_reasons(REASONS), _run(cut))
    assert report.incomplete
    assert report.failed
    assert format_report(report, _run(cut))[0].startswith("INCOMPLETE RUN")


def test_table_counts_passes_inside_failed_programs_apart() -> None:
    summary = parse_summary(SUMMARY)
    t = totals(summary)
    assert (t.passed, t.failed, t.skipped, t.passed_in_failed, t.fair) == (275, 3, 39, 270, 5)
    assert t.clean == 2
    table = format_table({"shim": summary, "peer": parse_summary(SUMMARY)})
    assert table[0] == "| program | shim | peer |"
    assert "| hooks | 0/0/0 **ERR** | 0/0/0 **ERR** |" in table
    assert "| programs without any failure | 2/5 | 2/5 |" in table
