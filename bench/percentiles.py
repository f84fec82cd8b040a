"""The one percentile of the benches' figures (p50, p95, p99 of latencies and CPU times)."""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest of ``values`` that at least ``fraction`` of
    them are at or below (wrk's and HdrHistogram's definition); NaN when there are none."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
