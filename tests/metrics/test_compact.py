"""metrics.compact folds the unit-group rows that several batches wrote into a series' bucket
into one row with their sums: what readers count stays the same, and a batch counted meanwhile
keeps its own row."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from controlplane.metrics import tasks
from controlplane.metrics.models import MetricUnitBucket
from controlplane.metrics.queries import Window, arm_counts_many
from controlplane.metrics.services import bucket_start, compact, count_batch
from controlplane.metrics.wire import read_batch
from flagplane.metrics import UNIT_GROUPS
from tests.metrics.helpers import grouped_series


def grouped(rng: random.Random, entry, variant: str) -> dict:
    return grouped_series(rng, entry, variant, max_groups=16, max_successes=30, max_errors=3)


def count(environment_id, make_batch, series, end) -> None:
    now = timezone.now()
    count_batch(environment_id, read_batch({**make_batch(*series, end=end), "format": 2}, now), now)


def windows(environment_id: int, since) -> list[Window]:
    return [Window(environment_id, "new-checkout", [variant], since, None, latencies)
            for variant in ("on", "off") for latencies in (True, False)]  # fmt: skip


def rows_per_bucket() -> dict:
    rows: dict = {}
    for row in MetricUnitBucket.objects.all():
        rows[(row.variant, row.bucket_start)] = rows.get((row.variant, row.bucket_start), 0) + 1
    return rows


@pytest.mark.django_db
def test_the_rows_of_several_batches_in_a_bucket_become_one_and_every_count_stays(production, entry, make_batch):
    rng = random.Random(11)
    now = timezone.now()
    ended = bucket_start(now - timedelta(minutes=1))  # ended long enough ago
    recent = now  # the bucket SDKs are still reporting
    for instance in range(5):
        count(production.id, make_batch, [grouped(rng, entry, "on"), grouped(rng, entry, "off")], ended)
        if instance < 2:
            count(production.id, make_batch, [grouped(rng, entry, "on")], recent)
    count(production.id, make_batch, [grouped(rng, entry, "on")], ended - timedelta(minutes=1))  # one batch only
    since = now - timedelta(hours=1)
    before = arm_counts_many(windows(production.id, since))
    rows = rows_per_bucket()

    assert compact(now) == 2  # the ended bucket's "on" and "off" rows

    assert arm_counts_many(windows(production.id, since)) == before
    assert rows_per_bucket() == {**rows, ("on", ended): 1, ("off", ended): 1}
    folded = MetricUnitBucket.objects.get(variant="on", bucket_start=ended)
    assert folded.unit_groups == sorted(folded.unit_groups) and 0 not in folded.latency_counts
    assert folded.latency_bins == sorted(folded.latency_bins)
    assert compact(now) == 0  # nothing left to fold


@pytest.mark.django_db
def test_a_batch_counted_after_its_bucket_was_folded_is_folded_with_it_next_time(production, entry, make_batch):
    rng = random.Random(12)
    now = timezone.now()
    ended = bucket_start(now - timedelta(minutes=1))
    for _ in range(3):
        count(production.id, make_batch, [grouped(rng, entry, "on")], ended)
    compact(now)
    count(production.id, make_batch, [grouped(rng, entry, "on")], ended)
    before = arm_counts_many(windows(production.id, now - timedelta(hours=1)))

    assert compact(now) == 1

    assert arm_counts_many(windows(production.id, now - timedelta(hours=1))) == before
    assert MetricUnitBucket.objects.count() == 1


@pytest.mark.django_db
def test_buckets_older_than_the_span_keep_their_rows(production, entry, make_batch, settings):
    rng = random.Random(13)
    now = timezone.now()
    old = bucket_start(now - timedelta(seconds=settings.METRICS_COMPACT_SPAN_S + 60))
    for _ in range(2):
        count(production.id, make_batch, [grouped(rng, entry, "on")], old)
    assert compact(now) == 0
    assert MetricUnitBucket.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_batch_committed_while_its_bucket_is_folded_keeps_its_row_and_counts(production, entry, make_batch):
    """Another connection counts a batch into the bucket and holds it uncommitted while the rows
    are folded: its row is not among them, and every signal counts once."""
    rng = random.Random(14)
    now = timezone.now()
    ended = bucket_start(now - timedelta(minutes=1))
    series = [[grouped(rng, entry, "on")] for _ in range(4)]
    for one in series[:3]:
        count(production.id, make_batch, one, ended)
    counted, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                count(production.id, make_batch, series[3], ended)
                counted.set()
                assert release.wait(60)
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)
            counted.set()
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert counted.wait(60)
        assert compact(now) == 1
    finally:
        release.set()
        holder.join(60)
    assert not failures
    totals = arm_counts_many(windows(production.id, now - timedelta(hours=1)))[0]
    expected = [0] * UNIT_GROUPS
    for [one] in series:
        for g, s, e in zip(one["units"]["group"], one["units"]["successes"], one["units"]["errors"], strict=True):
            expected[g] += s + e
    assert list(totals.unit_requests) == expected
    assert rows_per_bucket() == {("on", ended): 2}  # the folded row and the late committer's
    assert compact(now) == 1 and MetricUnitBucket.objects.count() == 1


def test_compaction_is_scheduled_by_beat_every_30_seconds(settings):
    entries = [entry for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == tasks.compact.name]
    assert [entry["schedule"] for entry in entries] == [30.0]
