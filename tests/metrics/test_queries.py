"""arm_counts, timeline and flag_activity: what the rollout engine and the UI read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controlplane.metrics.queries import Activity, arm_counts, flag_activity, timeline
from controlplane.metrics.services import bucket_start, ingest_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(make_batch):
    """``report(environment, end, *entries)``: count a batch as the endpoint would, at ``end``."""

    def report(environment, end, *entries):
        return ingest_batch(environment.id, make_batch(*entries, end=end), now=end + timedelta(seconds=1))

    return report


@pytest.fixture
def t0(settings) -> datetime:
    """A bucket boundary an hour ago (10 s buckets)."""
    settings.METRICS_BUCKET_SECONDS = 10
    return bucket_start(datetime.now(UTC) - timedelta(hours=1))


def test_arm_counts_selects_buckets_starting_in_since_until(report, production, entry, t0):
    for offset in (5, 15, 25):  # buckets t0, t0+10, t0+20
        report(
            production,
            t0 + timedelta(seconds=offset),
            entry(evaluations=1, successes=1, errors=0, counts=[1] + [0] * 13),
        )

    def requests(since, until=None):
        return arm_counts(production.id, "new-checkout", ["on"], since, until).requests

    assert requests(t0) == 3
    assert requests(t0, t0 + timedelta(seconds=20)) == 2
    # Precise to one bucket: a bucket that began before `since` is left out entirely...
    assert requests(t0 + timedelta(seconds=1)) == 2
    # ... and one that began before `until` is counted entirely.
    assert requests(t0, t0 + timedelta(seconds=11)) == 2


def test_arm_counts_without_data_is_zero(production):
    totals = arm_counts(production.id, "nothing", ["on"], datetime.now(UTC) - timedelta(hours=1))
    assert (totals.requests, totals.errors, totals.evaluations, sum(totals.histogram)) == (0, 0, 0, 0)
    assert totals.error_rate is None and totals.latency_quantile(0.95) is None
    assert len(totals.histogram) == len(totals.bounds_ms) + 1


def test_timeline_gives_each_arm_per_step(report, production, entry, t0):
    report(production, t0 + timedelta(seconds=5), entry(variant="on", successes=3, errors=1, counts=[4] + [0] * 13))
    report(
        production, t0 + timedelta(seconds=65), entry(variant="off", successes=2, errors=0, counts=[0, 0, 2] + [0] * 11)
    )
    report(production, t0 + timedelta(seconds=65), entry(variant="on", successes=1, errors=1, counts=[0] * 14))

    steps = timeline(production.id, "new-checkout", {"treatment": ["on"], "control": ["off"]},
                     t0, t0 + timedelta(minutes=3), 60)  # fmt: skip

    assert [step["start"] for step in steps] == [t0 + timedelta(minutes=m) for m in range(3)]
    first, second, third = steps
    assert first["arms"]["treatment"] == {"requests": 4, "errors": 1, "error_rate": 0.25, "p95_ms": pytest.approx(0.95)}
    assert first["arms"]["control"] == {"requests": 0, "errors": 0, "error_rate": None, "p95_ms": None}
    assert second["arms"]["treatment"]["error_rate"] == 0.5
    assert second["arms"]["control"]["requests"] == 2
    assert second["arms"]["control"]["p95_ms"] == pytest.approx(2 + 3 * 0.95)
    assert third["arms"]["treatment"]["requests"] == 0


def test_flag_activity_shows_evaluated_and_stale_flags(report, production, development, entry, settings):
    now = datetime.now(UTC)
    report(production, now - timedelta(hours=30), entry(flag="old-flag", evaluations=4))
    report(production, now - timedelta(minutes=5), entry(flag="new-checkout", evaluations=7))
    report(production, now - timedelta(minutes=1), entry(flag="new-checkout", evaluations=3))
    report(production, now - timedelta(minutes=1), entry(flag="only-recorded", evaluations=0))
    report(development, now - timedelta(minutes=1), entry(flag="dev-only", evaluations=1))

    activity = flag_activity(production, now=now)

    assert set(activity) == {"old-flag", "new-checkout"}
    assert activity["new-checkout"].evaluations_24h == 10
    assert now - activity["new-checkout"].last_evaluated_at < timedelta(minutes=2)
    assert activity["old-flag"] == Activity(last_evaluated_at=activity["old-flag"].last_evaluated_at, evaluations_24h=0)
    assert now - activity["old-flag"].last_evaluated_at > timedelta(hours=29)
    assert flag_activity(development.id, now=now)["dev-only"].evaluations_24h == 1
