"""What the rollout engine reads per unit group is the sum of every batch SDKs sent, each counted once."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from controlplane.metrics.histogram import HISTOGRAM_SIZE
from controlplane.metrics.queries import Window, arm_counts, arm_counts_many
from flagplane.metrics import UNIT_GROUPS
from tests.metrics.helpers import grouped_series

pytestmark = pytest.mark.django_db


def add(expected: dict, series: dict) -> None:
    """``expected[variant]``: per group, [requests, errors, histogram]."""
    units = series["units"]
    per_group = expected.setdefault(series["variant"], {})
    for g, s, e, counts in zip(units["group"], units["successes"], units["errors"], units["latency_counts"],
                               strict=True):  # fmt: skip
        total = per_group.setdefault(g, [0, 0, [0] * HISTOGRAM_SIZE])
        total[0] += s + e
        total[1] += e
        total[2] = [a + b for a, b in zip(total[2], counts, strict=True)]


def test_three_sdks_retrying_some_batches_add_up_to_every_batch_counted_once(post, production, entry, make_batch):
    rng = random.Random(16)
    now = datetime.now(UTC)
    expected: dict = {}
    for sdk in range(3):
        for minute in range(4):  # each SDK's batches fall in buckets others write too
            series = [
                grouped_series(rng, entry, variant, max_groups=20, max_successes=50, max_errors=5)
                for variant in ("on", "off", "on")
            ]  # "on" twice: merged
            batch = {**make_batch(*series, end=now - timedelta(minutes=minute, seconds=sdk)), "format": 2}
            for _ in range(1 + (minute + sdk) % 2):  # every other batch sent again, as a retry
                assert post(batch).status_code == 202
            for one in series:
                add(expected, one)
    since = now - timedelta(hours=1)
    for variant, per_group in expected.items():
        counts = arm_counts(production.id, "new-checkout", [variant], since)
        for g in range(UNIT_GROUPS):
            requests, errors, histogram = per_group.get(g, [0, 0, [0] * HISTOGRAM_SIZE])
            assert (counts.unit_requests[g], counts.unit_errors[g]) == (requests, errors), g
            assert list(counts.unit_histograms[g]) == histogram, g
        assert sum(counts.unit_requests) == counts.requests  # every signal here was split-served
    both = arm_counts(production.id, "new-checkout", ["on", "off"], since)
    assert sum(both.unit_errors) == sum(total[1] for groups in expected.values() for total in groups.values())
    # one query, a window counted with its latencies and the same one without (the sample-ratio check's)
    windows = [Window(production.id, "new-checkout", ["on"], since, None, latencies) for latencies in (True, False)]
    with_latencies, traffic = arm_counts_many(windows)
    assert (traffic.unit_requests, traffic.unit_errors) == (with_latencies.unit_requests, with_latencies.unit_errors)
    assert traffic.unit_histograms == () and len(with_latencies.unit_histograms) == UNIT_GROUPS
