"""Results as text: one Markdown table per figure (pasteable into the README), and JSON."""

from __future__ import annotations

import msgspec

from bench.model import Figure, LibraryResult, Results, Startup
from bench.stats import median, quantile

SHIMV2_ELSEWHERE = "measured by `python -m bench.containerd_bench` (a private containerd runs both)"
LABELS = {
    "run": "`run` of `true`, foreground",
    "create": "`create`",
    "state": "`state`",
    "start": "`start`",
    "delete": "`delete`",
    "cycle": "create + start + delete",
    "create_rss": "peak RSS of `create`",
    "init_rss": "RSS of the waiting init",
    "version": "`--version`",
    "kill": "`kill`",
    "list": "`list`",
    "exec": "`exec` of `true`",
    "stream": "stdout throughput of `run`",
    "churn1_rate": "churn, 1 worker",
    "churn1_cpu": "CPU per cycle, 1 worker",
    "churn1_latency": "cycle latency, 1 worker",
    "churn8_rate": "churn, 8 workers",
    "churn8_cpu": "CPU per cycle, 8 workers",
    "churn8_latency": "cycle latency, 8 workers",
    "checkpoint": "`checkpoint` of the counter",
    "restore": "`restore -d` of the counter",
}


def fmt(value: float) -> str:
    """Three significant digits or so, never scientific."""
    size = abs(value)
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _markdown(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|"
    return [line(header), rule, *(line(r) for r in rows)]


def _row(name: str, samples: list[float], base: float | None) -> list[str]:
    med = median(samples)
    row = [name, str(len(samples)), fmt(med), fmt(quantile(samples, 0.9))]
    return [*row, fmt(quantile(samples, 0.99)), f"{med / base:.2f}x" if base else "-"]


def figure_table(fig: Figure, order: list[str]) -> list[str]:
    """Rows: the runtimes in `order`, then the floor; ratio to the first; ms above the floor."""
    first = order[0]
    above = bool(fig.floor) and not fig.higher_is_better
    base = median(fig.samples[first]) if fig.samples.get(first) else None
    header = ["runtime", "n", "median", "p90", "p99", f"vs {first}"]
    header += ["above floor"] if above else []
    floor_med = median(fig.floor) if fig.floor else 0.0
    names = [n for n in order if n in fig.samples or n in fig.na]
    names += [n for n in fig.samples if n not in order]
    rows = []
    for name in names:
        samples = fig.samples.get(name)
        if not samples:
            rows.append([name, "0", fig.na.get(name, "n/a"), "", "", ""] + ([""] if above else []))
            continue
        row = _row(name, samples, base)
        delta = median(samples) - floor_med
        rows.append(row + ([f"+{fmt(delta)}" if delta >= 0 else fmt(delta)] if above else []))
    if fig.floor:
        row = _row(f"floor: {fig.floor_name}", fig.floor, None)
        rows.append([*row[:-1], ""] + ([""] if above else []))
    better = ", higher is better" if fig.higher_is_better else ""
    return [f"**{fig.title}** ({fig.unit}{better})", "", *_markdown(header, rows)]


def summary_table(figures: list[Figure], order: list[str]) -> list[str]:
    """Every figure on one row: each runtime's median (and its ratio to the first), the floor."""
    first = order[0]
    header = ["figure", "unit", *order, "floor"]
    rows = []
    for fig in figures:
        if fig.key == "floor":
            continue
        base = median(fig.samples[first]) if fig.samples.get(first) else None
        cells = []
        for name in order:
            samples = fig.samples.get(name)
            if not samples:
                cells.append("n/a")
                continue
            med = median(samples)
            cells.append(
                fmt(med) if name == first or not base else f"{fmt(med)} ({med / base:.2f}x)"
            )
        floor = f"{fmt(median(fig.floor))} ({fig.floor_name})" if fig.floor else ""
        unit = fig.unit + (" ↑" if fig.higher_is_better else "")
        rows.append([LABELS.get(fig.key, fig.key), unit, *cells, floor])
    return [
        f"**summary: medians; (x) is the ratio to {first}; ↑ higher is better**",
        "",
        *_markdown(header, rows),
    ]


def library_table(lib: LibraryResult) -> list[str]:
    rows = [[str(s.cycle), str(s.fds), fmt(s.rss_kb / 1024)] for s in lib.samples]
    lines = [
        f"**library in one process: `shim.supervisor.Supervisor`, {lib.cycles} create/start/"
        "wait/delete cycles** (fd count and RSS sampled as it goes)",
        "",
        *_markdown(["after cycle", "fds", "RSS MiB"], rows),
        "",
    ]
    if lib.cycle_ms:
        lines.append(
            f"cycle: median {fmt(median(lib.cycle_ms))} ms, p90 {fmt(quantile(lib.cycle_ms, 0.9))}"
            f" ms, p99 {fmt(quantile(lib.cycle_ms, 0.99))} ms;"
            f" importing the supervisor took {fmt(lib.import_ms)} ms"
        )
    if len(lib.samples) > 2:
        warm, last = lib.samples[1], lib.samples[-1]
        lines.append(
            f"growth from cycle {warm.cycle} to {last.cycle}: fds {last.fds - warm.fds:+d},"
            f" RSS {(last.rss_kb - warm.rss_kb) / 1024:+.2f} MiB"
        )
    return lines


# shim's commands as the start-up split names them -> the figure with their totals
COMMAND_FIGURES = {
    "--version": "version", "state": "state", "kill": "kill", "list": "list", "start": "start",
    "delete": "delete", "create": "create", "run": "run", "exec": "exec",
}  # fmt: skip
LIGHT = ("state", "kill", "list", "version")  # issue 14: within 3 ms of the bare interpreter
RUNC_PLUS = ("start", "delete")  # within the bare interpreter plus runc's own time
RATIO = ("cycle", "run", "exec")  # within 1.5x runc


def _medians(figures: list[Figure]) -> dict[str, dict[str, float]]:
    return {f.key: {n: median(s) for n, s in f.samples.items() if s} for f in figures}


def _floors(figures: list[Figure]) -> dict[str, float]:
    """Figure key -> the median of its bare-interpreter floor (measured in its own rounds)."""
    return {f.key: median(f.floor) for f in figures if f.floor_name == "python" and f.floor}


def startup_table(split: Startup, figures: list[Figure], order: list[str]) -> list[str]:
    """Per command: shim's median split into interpreter, imports and work, each from the
    rounds that timed the command; the peers' medians."""
    meds = _medians(figures)
    peers = [n for n in order if n != "shim"]
    header = ["command", "shim", "interpreter", "imports", "work", "modules", *peers]
    rows = []
    for cmd, key in COMMAND_FIGURES.items():
        total = meds.get(key, {}).get("shim")
        imported, lean = split.imports.get(cmd), split.lean.get(cmd)
        if total is None or not imported or not lean:
            continue
        only, bare = median(imported), median(lean)
        row = [f"`{cmd}`", fmt(total), fmt(bare), fmt(only - bare), fmt(total - only)]
        row.append(str(split.modules.get(cmd, "")))
        row += [fmt(meds[key][p]) if p in meds.get(key, {}) else "n/a" for p in peers]
        rows.append(row)
    return [
        f"**where shim's time goes** (medians, ms, each from the rounds that timed the"
        f" command): interpreter = `{split.interpreter}` doing nothing; imports = a process"
        " importing only what the command imports, minus that; work = the command minus"
        " that process",
        "",
        *_markdown(header, rows),
    ]


def targets_table(figures: list[Figure]) -> list[str]:
    """Issue 14's goals, read off this run's medians; `python` is the bare interpreter of
    the rounds that timed the command."""
    meds = _medians(figures)
    floors = _floors(figures)
    rows = []
    for key in RATIO:
        shim, runc = meds.get(key, {}).get("shim"), meds.get(key, {}).get("runc")
        if shim is not None and runc is not None:
            ratio = shim / runc
            rows.append([LABELS[key], "<= 1.5x runc", f"{ratio:.2f}x", _met(ratio <= 1.5)])
    for key in LIGHT:
        shim, bare = meds.get(key, {}).get("shim"), floors.get(key)
        if shim is not None and bare is not None:
            over = shim - bare
            goal = "<= python + 3 ms"
            rows.append([LABELS[key], goal, f"python {over:+.1f} ms", _met(over <= 3.0)])
    for key in RUNC_PLUS:
        shim, runc = meds.get(key, {}).get("shim"), meds.get(key, {}).get("runc")
        bare = floors.get(key)
        if shim is not None and runc is not None and bare is not None:
            over = shim - bare - runc
            goal = "<= python + runc"
            rows.append([LABELS[key], goal, f"python + runc {over:+.1f} ms", _met(over <= 0)])
    if not rows:
        return []
    return [
        "**issue 14's targets** (python: the bare interpreter, in the same rounds)",
        "",
        *_markdown(["figure", "goal", "measured", "met"], rows),
    ]


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def render(results: Results) -> str:
    info = results.info
    order = [name for name in info.versions if name != "python"]
    out = [
        f"`{info.command}` ({info.mode}), {info.date}, {info.host}, commit {info.commit},"
        f" {info.seconds:.0f} s",
        "",
        "; ".join(f"{name}: {v}" for name, v in info.versions.items()),
        "",
    ]
    out += [*summary_table(results.figures, order), ""]
    if results.startup is not None:
        out += [*startup_table(results.startup, results.figures, order), ""]
        out += [*targets_table(results.figures), ""]
    for fig in results.figures:
        out += [*figure_table(fig, order), ""]
    if results.library is not None:
        out += [*library_table(results.library), ""]
    out += [f"containerd shim figures (ours vs containerd-shim-runc-v2): {SHIMV2_ELSEWHERE}", ""]
    out += [f"note: {n}" for n in results.notes]
    return "\n".join(out).rstrip() + "\n"


def write_json(path: str, results: Results) -> None:
    with open(path, "wb") as f:
        f.write(msgspec.json.format(msgspec.json.encode(results), indent=1))
        f.write(b"\n")


def read_json(path: str) -> Results:
    with open(path, "rb") as f:
        return msgspec.json.decode(f.read(), type=Results)
