"""A batch counted into a bucket that has settled (ended ``ROLLOUTS_SAMPLE_RATIO_SETTLE_S`` ago)
leaves a mark per flag with the time it was counted (``LateBucket``), in one statement; an on-time
batch writes none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from controlplane.documents import cache
from controlplane.metrics import inbox, services
from controlplane.metrics.models import LateBucket
from tests.metrics.helpers import as_text, entry, make_batch

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 12, 0, 5, tzinfo=UTC)
BUCKET = datetime(2026, 6, 1, 11, 55, 0, tzinfo=UTC)
"""The bucket of a batch whose period ended 5 minutes before ``NOW``."""


@pytest.fixture(autouse=True)
def settle_a_minute(settings):
    settings.METRICS_BUCKET_SECONDS = 10
    settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S = 60


def ingest(environment_id: int, *entries, end: datetime, now: datetime) -> list[str]:
    """Count a batch ending at ``end`` received at ``now``; the SQL it ran."""
    with CaptureQueriesContext(connection) as captured:
        services.ingest_batch(environment_id, make_batch(*entries, end=end), now=now)
    return [query["sql"] for query in captured.captured_queries]


def marks() -> list[tuple[str, datetime, datetime]]:
    return list(LateBucket.objects.order_by("flag_key").values_list("flag_key", "bucket_start", "written_at"))


def test_an_on_time_batch_writes_no_mark(production):
    queries = ingest(production.id, entry(), end=NOW - timedelta(seconds=2), now=NOW)
    assert not any(LateBucket._meta.db_table in sql for sql in queries)
    assert marks() == []


def test_a_batch_into_a_bucket_still_settling_writes_no_mark(production):
    ingest(production.id, entry(), end=BUCKET + timedelta(seconds=5), now=BUCKET + timedelta(seconds=69))
    assert marks() == []


def test_a_batch_five_minutes_late_marks_its_bucket_for_each_flag_in_one_statement(production):
    late = [entry(flag=f"flag-{n}") for n in range(3)] + [entry(flag="flag-0", variant="off")]
    queries = ingest(production.id, *late, end=BUCKET + timedelta(seconds=5), now=NOW)
    assert sum(LateBucket._meta.db_table in sql for sql in queries) == 1
    assert marks() == [(f"flag-{n}", BUCKET, NOW) for n in range(3)]


def test_a_mark_keeps_the_latest_write(production):
    end = BUCKET + timedelta(seconds=5)
    ingest(production.id, entry(), end=end, now=NOW)
    ingest(production.id, entry(), end=end, now=NOW + timedelta(minutes=2))
    ingest(production.id, entry(), end=end, now=NOW + timedelta(minutes=1))  # its request took longer
    assert marks() == [("new-checkout", BUCKET, NOW + timedelta(minutes=2))]


def test_a_batch_parked_in_redis_is_marked_when_the_drain_counts_it(production):
    cache.client().delete(inbox.inbox_key(), inbox.processing_key())
    received_at = timezone.now() - timedelta(minutes=5)
    inbox.park(production.id, as_text(make_batch(entry(), end=received_at)), received_at)
    before_drain = timezone.now()
    assert inbox.drain()["counted"] == 1
    [(_, start, written_at)] = marks()
    assert start == services.bucket_start(received_at) and written_at >= before_drain


def test_marks_are_pruned_with_their_buckets(production, settings):
    settings.METRICS_RETENTION_DAYS = 14
    now = timezone.now()
    for age in (timedelta(days=15), timedelta(days=13)):
        LateBucket.objects.create(environment=production, flag_key="f", bucket_start=now - age, written_at=now - age)
    services.prune(now)
    assert list(LateBucket.objects.values_list("bucket_start", flat=True)) == [now - timedelta(days=13)]
