"""Results as text: one Markdown table per figure (pasteable into the README), and JSON."""

from __future__ import annotations

import msgspec

from bench.model import Figure, LibraryResult, Results
from bench.stats import median, quantile

SHIMV2_NA = "n/a: containerd shim not built yet"
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
    for fig in results.figures:
        out += [*figure_table(fig, order), ""]
    if results.library is not None:
        out += [*library_table(results.library), ""]
    out += [f"containerd shim figures (ours vs containerd-shim-runc-v2): {SHIMV2_NA}", ""]
    out += [f"note: {n}" for n in results.notes]
    return "\n".join(out).rstrip() + "\n"


def write_json(path: str, results: Results) -> None:
    with open(path, "wb") as f:
        f.write(msgspec.json.format(msgspec.json.encode(results), indent=1))
        f.write(b"\n")


def read_json(path: str) -> Results:
    with open(path, "rb") as f:
        return msgspec.json.decode(f.read(), type=Results)
