"""Helpers for rollout tests: counts spread over unit groups as SDKs of wire format 2 report them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from controlplane.rollouts.observations import ArmCounts
from flagplane.metrics import LATENCY_BOUNDS_MS, UNIT_GROUPS


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


def report_units(
    sdk, groups_by_variant: dict[str, dict[int, tuple[int, int]]], flag: str = "new-checkout", ago_s: float = 0.0
) -> None:
    """Post one wire-format-2 batch: {variant: {unit group: (requests, errors)}}, every request
    split-served with a latency of 80 ms (totals are the groups' sums), its period ``ago_s`` ago."""
    moment = datetime.now(UTC) - timedelta(seconds=ago_s)
    now = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    fast = LATENCY_BOUNDS_MS.index(100)
    entries = []
    for variant, groups in groups_by_variant.items():
        order = sorted(groups)
        total = sum(n for n, _ in groups.values())
        errors = sum(e for _, e in groups.values())
        entries.append(
            {
                "flag": flag,
                "variant": variant,
                "evaluations": total,
                "successes": total - errors,
                "errors": errors,
                "latency_ms": {
                    "bounds": list(LATENCY_BOUNDS_MS),
                    "counts": [total if i == fast else 0 for i in range(len(LATENCY_BOUNDS_MS) + 1)],
                    "sum": 80.0 * total,
                },
                "units": {
                    "groups": UNIT_GROUPS,
                    "group": order,
                    "successes": [groups[g][0] - groups[g][1] for g in order],
                    "errors": [groups[g][1] for g in order],
                    "latency_counts": [
                        [groups[g][0] if i == fast else 0 for i in range(len(LATENCY_BOUNDS_MS) + 1)] for g in order
                    ],
                },
            }
        )
    batch = {
        "format": 2,
        "sdk": {"name": "test", "version": "0"},
        "batch_id": uuid.uuid4().hex,
        "document_version": None,
        "period": {"start": now, "end": now},
        "flags": entries,
        "dropped": 0,
    }
    response = sdk.post("/api/v1/metrics", batch, format="json")
    assert response.status_code == 202, response.content


def everywhere(requests: int, errors: int) -> dict[int, tuple[int, int]]:
    """The same (requests, errors) in every unit group: traffic from many healthy units."""
    return dict.fromkeys(range(UNIT_GROUPS), (requests, errors))
