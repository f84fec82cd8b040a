"""POST /api/v1/metrics: a valid batch is counted once, in the key's environment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controlplane.audit.services import SYSTEM
from controlplane.metrics.models import MetricBatch, MetricBucket
from controlplane.metrics.queries import arm_counts
from controlplane.metrics.services import bucket_start
from controlplane.projects.models import SdkKey
from controlplane.projects.services import revoke_sdk_key

pytestmark = pytest.mark.django_db
HOUR_AGO = timedelta(hours=1)


def test_a_valid_batch_is_stored_and_summed(post, production, entry, make_batch):
    batch = make_batch(
        entry(variant="on", evaluations=10, successes=8, errors=2, counts=[0, 3, 4, 2, 1] + [0] * 9, latency_sum=40.0),
        entry(variant="off", evaluations=5, successes=5, errors=0, counts=[5] + [0] * 13, latency_sum=2.5),
        dropped=7,
    )
    response = post(batch)

    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 2, "duplicate": False, "queued": False}
    since = datetime.now(UTC) - HOUR_AGO
    on = arm_counts(production.id, "new-checkout", ["on"], since)
    assert (on.requests, on.errors, on.evaluations) == (10, 2, 10)
    assert on.histogram == (0, 3, 4, 2, 1) + (0,) * 9
    assert on.latency_sum == 40.0
    assert on.bounds_ms == (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
    both = arm_counts(production.id, "new-checkout", ["on", "off"], since)
    assert (both.requests, both.errors, both.evaluations) == (15, 2, 15)
    assert both.histogram[0] == 5
    stored = MetricBatch.objects.get(batch_id=batch["batch_id"])
    assert (stored.environment_id, stored.dropped, stored.entries, stored.sdk_name) == (
        production.id, 7, 2, "flagplane-python",
    )  # fmt: skip


def test_counts_land_in_the_bucket_containing_period_end(post, production, entry, make_batch, settings):
    settings.METRICS_BUCKET_SECONDS = 10
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    end = end.replace(second=end.second - end.second % 10) + timedelta(seconds=7)
    assert post(make_batch(entry(), end=end)).status_code == 202
    bucket = MetricBucket.objects.get()
    assert bucket.bucket_start == end - timedelta(seconds=7) == bucket_start(end)


def test_two_batches_add_up_in_one_bucket_elementwise(post, production, entry, make_batch):
    end = datetime.now(UTC)
    first = entry(evaluations=1, successes=1, errors=0, counts=[1] + [0] * 13, latency_sum=0.5)
    second = entry(evaluations=2, successes=1, errors=1, counts=[0] * 13 + [2], latency_sum=30000.0)
    assert post(make_batch(first, end=end)).status_code == 202
    assert post(make_batch(second, end=end)).status_code == 202
    bucket = MetricBucket.objects.get()
    assert (bucket.evaluations, bucket.successes, bucket.errors) == (3, 2, 1)
    assert bucket.latency_counts == [1] + [0] * 12 + [2]
    assert bucket.latency_sum == 30000.5


def test_a_retried_batch_is_acknowledged_but_not_counted_twice(post, production, make_batch):
    batch = make_batch()
    assert post(batch).json() == {"accepted": 1, "duplicate": False, "queued": False}
    retry = post(batch)
    assert retry.status_code == 202
    assert retry.json() == {"accepted": 0, "duplicate": True, "queued": False}
    totals = arm_counts(production.id, "new-checkout", ["on"], datetime.now(UTC) - HOUR_AGO)
    assert (totals.requests, totals.evaluations) == (10, 10)
    assert MetricBatch.objects.count() == 1


def test_the_same_batch_id_from_another_environment_is_its_own_batch(post, development_sdk, make_batch):
    batch = make_batch()
    assert post(batch).json()["duplicate"] is False
    assert development_sdk.post("/api/v1/metrics", batch, format="json").json()["duplicate"] is False


def test_a_development_key_reports_to_development_only(development_sdk, development, production, make_batch):
    batch = make_batch()
    batch["environment"] = "production"  # ignored: the key decides
    response = development_sdk.post("/api/v1/metrics", batch, format="json")
    assert response.status_code == 202
    since = datetime.now(UTC) - HOUR_AGO
    assert arm_counts(development.id, "new-checkout", ["on"], since).requests == 10
    assert arm_counts(production.id, "new-checkout", ["on"], since).requests == 0


def test_metrics_for_unknown_flags_are_kept(post, production, entry, make_batch):
    assert post(make_batch(entry(flag="created-later"))).status_code == 202
    assert arm_counts(production.id, "created-later", ["on"], datetime.now(UTC) - HOUR_AGO).requests == 10


def test_repeated_entries_for_one_variant_are_merged(post, production, entry, make_batch):
    response = post(make_batch(entry(), entry()))
    assert response.json() == {"accepted": 2, "duplicate": False, "queued": False}
    assert arm_counts(production.id, "new-checkout", ["on"], datetime.now(UTC) - HOUR_AGO).requests == 20


def test_a_batch_with_only_dropped_counts_is_accepted(post, make_batch):
    batch = make_batch(dropped=12)
    batch["flags"] = []
    assert post(batch).json() == {"accepted": 0, "duplicate": False, "queued": False}
    assert MetricBatch.objects.get().dropped == 12
    assert not MetricBucket.objects.exists()


def test_without_a_key_the_answer_is_401(anonymous, make_batch):
    response = anonymous.post("/api/v1/metrics", make_batch(), format="json")
    assert response.status_code == 401
    assert not MetricBatch.objects.exists()


def test_a_revoked_key_is_refused_with_401(sdk, sdk_key, production, make_batch):
    revoke_sdk_key(SdkKey.objects.get(environment=production), SYSTEM)
    response = sdk.post("/api/v1/metrics", make_batch(), format="json")
    assert response.status_code == 401
    assert not MetricBatch.objects.exists()


def test_an_api_token_is_not_an_sdk_key(api, make_batch):
    response = api.post("/api/v1/metrics", make_batch(), format="json")
    assert response.status_code == 401
    assert not MetricBatch.objects.exists()


def test_ten_thousand_entries_are_one_upsert(
    post, production, entry, make_batch, django_assert_max_num_queries, settings
):
    settings.METRICS_PARK_ROWS = 10_000  # counted on the request, not parked for a worker
    entries = [entry(flag=f"flag-{i // 2}", variant="on" if i % 2 else "off") for i in range(10_000)]
    batch = make_batch(*entries)
    with django_assert_max_num_queries(8):  # key lookup, batch id, buckets, flag activity, savepoints
        response = post(batch)
    assert response.status_code == 202
    assert response.json() == {"accepted": 10_000, "duplicate": False, "queued": False}
    assert MetricBucket.objects.filter(environment=production).count() == 10_000
    since = datetime.now(UTC) - HOUR_AGO
    assert arm_counts(production.id, "flag-4999", ["on", "off"], since).requests == 20
