"""Histograms over other bounds: a subset of the standard bounds is re-bucketed, others refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controlplane.metrics.errors import BoundsError
from controlplane.metrics.histogram import STANDARD_BOUNDS_MS, quantile, to_standard
from controlplane.metrics.models import MetricBatch
from controlplane.metrics.queries import arm_counts


def test_a_subset_is_rebucketed_to_the_upper_bound():
    #            <=10  (10,100]  (100,1000]  overflow
    counts = to_standard([10, 100, 1000], [4, 3, 2, 1])
    standard = dict(zip([*STANDARD_BOUNDS_MS, "overflow"], counts, strict=True))
    assert standard[10] == 4 and standard[100] == 3 and standard[1000] == 2 and standard["overflow"] == 1
    assert sum(counts) == 10


def test_bounds_outside_the_standard_set_are_refused():
    with pytest.raises(BoundsError, match="not standard bounds"):
        to_standard([3, 100], [1, 1, 1])


def test_quantile_interpolates_inside_a_bucket_and_caps_at_the_last_bound():
    histogram = [0] * 14
    histogram[2] = 100  # all in (2, 5]
    assert quantile(histogram, 0.5) == pytest.approx(3.5)
    assert quantile([0] * 13 + [1], 0.95) == 10000.0
    assert quantile([0] * 14, 0.95) is None


@pytest.mark.django_db
def test_a_batch_with_subset_bounds_is_stored_rebucketed(post, production, make_batch, entry):
    item = entry(successes=10, errors=0)
    item["latency_ms"] = {"bounds": [5, 50, 500], "counts": [6, 3, 1, 0], "sum": 100.0}
    assert post(make_batch(item)).status_code == 202
    totals = arm_counts(production.id, "new-checkout", ["on"], datetime.now(UTC) - timedelta(hours=1))
    assert totals.histogram == (0, 0, 6, 0, 0, 3, 0, 0, 1, 0, 0, 0, 0, 0)


@pytest.mark.django_db
def test_a_batch_with_foreign_bounds_is_refused_with_a_clear_message(post, make_batch, entry):
    item = entry()
    item["latency_ms"] = {"bounds": [3, 30, 300], "counts": [1, 1, 1, 0], "sum": 100.0}
    response = post(make_batch(item))
    assert response.status_code == 400
    message = response.json()["flags"]["0"]["latency_ms"]["bounds"][0]
    assert "[3.0, 30.0, 300.0] are not standard bounds" in message
    assert not MetricBatch.objects.exists()


@pytest.mark.django_db
def test_entries_without_latency_are_counted(post, production, make_batch, entry):
    item = entry()
    del item["latency_ms"]
    assert post(make_batch(item)).status_code == 202
    totals = arm_counts(production.id, "new-checkout", ["on"], datetime.now(UTC) - timedelta(hours=1))
    assert (totals.requests, sum(totals.histogram), totals.latency_sum) == (10, 0, 0.0)
