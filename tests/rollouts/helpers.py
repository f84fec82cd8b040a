"""Helpers for the pure decision tests: counts spread over unit groups as new SDKs report them."""

from __future__ import annotations

from controlplane.rollouts.decision import ArmCounts
from flagplane.metrics import UNIT_GROUPS


def _spread(count: int, groups: int) -> list[int]:
    base, extra = divmod(count, groups)
    return [base + (1 if g < extra else 0) for g in range(groups)]


def grouped(total: int, events: int = 0, histogram: tuple[int, ...] = (), groups: int = UNIT_GROUPS) -> ArmCounts:
    """An arm whose trials (and events, and latencies) come from many units, evenly over the groups:
    what independent requests from a large population look like."""
    trials = _spread(total, groups)
    bad = _spread(events, groups)
    per_bucket = [_spread(count, groups) for count in histogram]
    return ArmCounts(
        total=total,
        events=events,
        histogram=histogram,
        groups=tuple(zip(trials, bad, strict=True)),
        group_histograms=tuple(tuple(bucket[g] for bucket in per_bucket) for g in range(groups)) if histogram else (),
    )
