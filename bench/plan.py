"""How many samples each figure takes: full (about 10 minutes here) and --quick (under one)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    mode: str
    floor_rounds: int
    run_rounds: int
    cycle_rounds: int  # create / state / start / wait / delete, one container per runtime
    memory_rounds: int
    version_rounds: int
    startup_rounds: int  # kill, list, and shim's interpreter / imports split
    exec_rounds: int
    stream_mib: int
    stream_rounds: int
    churn_rounds: int
    churn_cycles: dict[int, int]  # workers -> cycles per runtime per round
    library_cycles: int
    library_every: int
    criu_rounds: int  # checkpoint + restore of the counter, per runtime


FULL = Plan(
    mode="full",
    floor_rounds=300,
    run_rounds=300,
    cycle_rounds=300,
    memory_rounds=30,
    version_rounds=300,
    startup_rounds=100,
    exec_rounds=300,
    stream_mib=1024,
    stream_rounds=10,
    churn_rounds=8,
    churn_cycles={1: 20, 8: 64},
    library_cycles=1000,
    library_every=100,
    criu_rounds=20,
)

QUICK = Plan(
    mode="quick",
    floor_rounds=30,
    run_rounds=20,
    cycle_rounds=20,
    memory_rounds=3,
    version_rounds=20,
    startup_rounds=6,
    exec_rounds=8,
    stream_mib=64,
    stream_rounds=3,
    churn_rounds=1,
    churn_cycles={1: 8, 8: 16},
    library_cycles=50,
    library_every=10,
    criu_rounds=2,
)
