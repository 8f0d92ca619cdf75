"""What a run produces, as msgspec Structs: the JSON file is these, encoded."""

from __future__ import annotations

import msgspec


class Figure(msgspec.Struct, kw_only=True):
    """One table: samples per runtime (rows in the order the runtimes were given)."""

    key: str
    title: str
    unit: str  # "ms", "MiB", "MiB/s", "cycles/s"
    higher_is_better: bool = False
    samples: dict[str, list[float]] = msgspec.field(default_factory=dict)
    na: dict[str, str] = msgspec.field(default_factory=dict)  # runtime -> why no number
    floor_name: str | None = None  # the floor row printed under the runtimes
    floor: list[float] = msgspec.field(default_factory=list)


class LibrarySample(msgspec.Struct):
    cycle: int  # cycles completed when sampled
    fds: int
    rss_kb: int


class LibraryResult(msgspec.Struct, kw_only=True):
    """The in-process churn: Runtime create/start/wait/delete in one long-lived interpreter."""

    cycles: int
    import_ms: float  # importing the supervisor (and anyio)
    cycle_ms: list[float]
    samples: list[LibrarySample]


class Startup(msgspec.Struct, kw_only=True):
    """Where shim's time goes per command (bench/split.py), each sampled in the rounds of
    the phase that timed the command: the interpreter as the script starts it, doing
    nothing, and a process importing only what the command imports."""

    interpreter: str  # the script's #! line: the interpreter and its flags
    lean: dict[str, list[float]]  # command -> ms of that interpreter doing nothing
    imports: dict[str, list[float]]  # command -> ms of the imports-only process
    modules: dict[str, int]  # command -> how many modules it imports


class RunInfo(msgspec.Struct, kw_only=True):
    command: str
    date: str  # UTC, ISO 8601
    mode: str  # "quick" | "full"
    host: str  # kernel and cores
    versions: dict[str, str]
    commit: str
    seconds: float = 0.0


class Results(msgspec.Struct, kw_only=True):
    info: RunInfo
    figures: list[Figure]
    library: LibraryResult | None = None
    startup: Startup | None = None
    notes: list[str] = msgspec.field(default_factory=list)
