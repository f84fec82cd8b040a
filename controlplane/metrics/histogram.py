"""The latency histogram every stored bucket uses, and arithmetic on it.

Bounds are inclusive upper bounds in milliseconds; one overflow count follows the last bound, so
a histogram has ``len(STANDARD_BOUNDS_MS) + 1`` counts. The bounds are the SDK's
(``flagplane.metrics.LATENCY_BOUNDS_MS``, part of the metrics wire format).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from controlplane.metrics.errors import BoundsError
from flagplane.metrics import LATENCY_BOUNDS_MS

STANDARD_BOUNDS_MS: tuple[float, ...] = LATENCY_BOUNDS_MS
HISTOGRAM_SIZE = len(STANDARD_BOUNDS_MS) + 1
_STANDARD_FLOATS = tuple(map(float, STANDARD_BOUNDS_MS))
_INDEX_OF = {bound: index for index, bound in enumerate(_STANDARD_FLOATS)}


def empty_histogram() -> list[int]:
    return [0] * HISTOGRAM_SIZE


def to_standard(bounds: Sequence[float], counts: Sequence[int]) -> list[int]:
    """Counts over ``bounds`` expressed over the standard bounds.

    ``bounds`` must be the standard bounds or a subset of them (in increasing order). The
    observations of a coarser bucket ``(previous, bound]`` are all counted in the standard bucket
    ending at ``bound``: a conservative (high) placement, which is what a latency gate wants.
    """
    if len(counts) != len(bounds) + 1:
        raise BoundsError(f"counts must have {len(bounds) + 1} entries (one per bound plus overflow).")
    if tuple(map(float, bounds)) == _STANDARD_FLOATS:
        return list(map(int, counts))
    if any(later <= earlier for earlier, later in itertools.pairwise(bounds)):
        raise BoundsError("bounds must be strictly increasing.")
    unknown = [b for b in bounds if float(b) not in _INDEX_OF]
    if unknown:
        raise BoundsError(
            f"bounds {unknown} are not standard bounds; use the standard bounds "
            f"{list(STANDARD_BOUNDS_MS)} or a subset of them."
        )
    standard = empty_histogram()
    for bound, count in zip(bounds, counts, strict=False):
        standard[_INDEX_OF[float(bound)]] += int(count)
    standard[-1] += int(counts[-1])
    return standard


def quantile(histogram: Sequence[int], q: float, bounds: Sequence[float] = STANDARD_BOUNDS_MS) -> float | None:
    """Estimate the ``q`` quantile (0 < q <= 1) in ms; None without observations.

    Linear interpolation inside the bucket that holds the quantile (the first bucket starts at
    0 ms). A quantile that falls in the overflow bucket is reported as the largest bound: the
    true value is at least that. The one quantile of the codebase: the metrics queries and the
    rollout decision (through ``rollouts.stats.histogram_quantile``) both call it.
    """
    total = sum(histogram)
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            if index >= len(bounds):
                return float(bounds[-1])
            lower = float(bounds[index - 1]) if index else 0.0
            upper = float(bounds[index])
            return lower + (upper - lower) * max(0.0, rank - seen) / count
        seen += count
    return float(bounds[-1])
