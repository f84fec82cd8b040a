"""metrics.prune deletes buckets past retention and batch ids past the retry window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controlplane.metrics import tasks
from controlplane.metrics.models import FlagActivity, MetricBatch, MetricBucket, MetricUnitBucket

pytestmark = pytest.mark.django_db


def test_prune_removes_old_buckets_and_batch_ids(production, settings):
    settings.METRICS_RETENTION_DAYS = 14
    settings.METRICS_BATCH_RETENTION_HOURS = 48
    now = datetime.now(UTC)
    for age in (timedelta(days=15), timedelta(days=13)):
        MetricBucket.objects.create(environment=production, flag_key="f", variant="on", bucket_start=now - age)
    for number, age in enumerate((timedelta(hours=49), timedelta(hours=47))):
        MetricBatch.objects.create(
            environment=production, batch_id=f"{number:032x}", received_at=now - age, period_start=now - age,
            period_end=now - age, sdk_name="test", sdk_version="0", entries=0,
        )  # fmt: skip
    FlagActivity.objects.create(environment=production, flag_key="f", first_evaluated_at=now - timedelta(days=90),
                                last_evaluated_at=now - timedelta(days=60))  # fmt: skip

    assert tasks.prune.apply().get() == {"buckets": 1, "unit_buckets": 0, "batches": 1}

    assert list(MetricBucket.objects.values_list("bucket_start", flat=True)) == [now - timedelta(days=13)]
    assert list(MetricBatch.objects.values_list("batch_id", flat=True)) == [f"{1:032x}"]
    assert FlagActivity.objects.count() == 1  # kept: it tells which flags went stale


def test_prune_removes_the_unit_group_rows_of_old_buckets_and_keeps_the_others(production, settings):
    settings.METRICS_RETENTION_DAYS = 14
    now = datetime.now(UTC)
    for batch, age in enumerate((timedelta(days=15), timedelta(days=15), timedelta(days=13)), start=1):
        MetricUnitBucket.objects.create(
            environment=production, flag_key="f", variant="on", bucket_start=now - age, batch=batch,
            unit_groups=[3], successes=[1], errors=[0], latency_bins=[42], latency_counts=[1],
        )  # fmt: skip

    assert tasks.prune.apply().get() == {"buckets": 0, "unit_buckets": 2, "batches": 0}

    assert list(MetricUnitBucket.objects.values_list("bucket_start", "batch")) == [(now - timedelta(days=13), 3)]


def test_prune_is_scheduled_by_beat(settings):
    assert any(entry["task"] == "metrics.prune" for entry in settings.CELERY_BEAT_SCHEDULE.values())
