"""Order statistics of a sample list: what every table reports (no I/O, no clock)."""

from __future__ import annotations

from collections.abc import Sequence


def quantile(samples: Sequence[float], q: float) -> float:
    """The q-quantile, linearly interpolated between order statistics (numpy's default)."""
    if not samples:
        raise ValueError("quantile of no samples")
    ordered = sorted(samples)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def median(samples: Sequence[float]) -> float:
    return quantile(samples, 0.5)


def rotated(items: Sequence[str], turn: int) -> list[str]:
    """`items` started at position `turn`: round N of an interleaved run measures in this order,
    so no runtime always goes first (warm caches) or last (after the others' garbage)."""
    if not items:
        return []
    k = turn % len(items)
    return [*items[k:], *items[:k]]
