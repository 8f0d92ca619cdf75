"""What every figure gets: the runtimes, the bundles, the sample plan, the floors measured."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.bundles import Bundles
from bench.peers import Peer
from bench.plan import Plan
from bench.split import Splitter


def stderr_progress(started: float) -> Callable[[str], None]:
    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {text}", file=sys.stderr, flush=True)

    return say


@dataclass
class Context:
    peers: list[Peer]
    bundles: Bundles
    plan: Plan
    workdir: str
    say: Callable[[str], None]
    floors: dict[str, list[float]] = field(default_factory=dict)  # floor row -> samples (ms)
    split: Splitter | None = None  # bench/split.py, set up by figures/startup.prepare

    @property
    def first(self) -> str:
        return self.peers[0].name
