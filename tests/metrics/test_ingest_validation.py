"""Bad batches are refused with 400 and field-level messages, and nothing is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controlplane.metrics.errors import BatchError
from controlplane.metrics.models import FlagActivity, MetricBatch, MetricBucket
from controlplane.metrics.services import ingest_batch

pytestmark = pytest.mark.django_db


def refused(response) -> dict:
    assert response.status_code == 400, response.content
    assert not MetricBatch.objects.exists()
    assert not MetricBucket.objects.exists()
    assert not FlagActivity.objects.exists()
    return response.json()


def test_missing_fields_are_named(post):
    body = refused(post({"flags": [{"flag": "new-checkout"}]}))
    assert set(body) >= {"sdk", "batch_id", "period"}
    assert body["sdk"] == ["This field is required."]
    entry_errors = body["flags"]["0"] if isinstance(body["flags"], dict) else body["flags"][0]
    assert set(entry_errors) == {"variant", "evaluations", "successes", "errors"}


def test_a_body_that_is_not_an_object_is_refused(post):
    refused(post([1, 2, 3]))


def test_negative_counts_are_refused(post, make_batch, entry):
    body = refused(post(make_batch(entry(), entry(variant="off", errors=-1))))
    assert body["flags"]["1"]["errors"] == ["Must not be negative."]


@pytest.mark.parametrize("value", ["3", 2.5, True, None])
def test_counts_must_be_json_integers(post, make_batch, entry, value):
    batch = make_batch(entry(evaluations=value))
    body = refused(post(batch))
    assert "evaluations" in body["flags"]["0"]


def test_a_histogram_with_the_wrong_number_of_counts_is_refused(post, make_batch, entry):
    body = refused(post(make_batch(entry(counts=[1, 2, 3]))))
    assert "14 entries" in body["flags"]["0"]["latency_ms"]["counts"][0]


def test_more_histogram_observations_than_outcomes_are_refused(post, make_batch, entry):
    body = refused(post(make_batch(entry(successes=1, errors=0, counts=[5] + [0] * 13))))
    assert "more observations" in body["flags"]["0"]["latency_ms"][0]


@pytest.mark.parametrize(
    "stamp",
    [
        "yesterday",
        "2026-01-31 12:00:00",
        "2026-01-31T12:00:00",
        1700000000,
        "2026-13-01T00:00:00Z",
        "9999-12-31T23:59:59-23:59",  # past the year 9999 in UTC
    ],
)
def test_bad_timestamps_are_refused(post, make_batch, stamp):
    batch = make_batch()
    batch["period"]["start"] = stamp
    body = refused(post(batch))
    assert "RFC 3339" in body["period"]["start"][0]


def test_a_period_ending_before_it_starts_is_refused(post, make_batch):
    batch = make_batch()
    batch["period"]["start"], batch["period"]["end"] = batch["period"]["end"], batch["period"]["start"]
    body = refused(post(batch))
    assert body["period"]["end"] == ["Must not be before start."]


def test_a_period_ending_far_in_the_future_is_refused(post, make_batch):
    body = refused(post(make_batch(end=datetime.now(UTC) + timedelta(hours=1))))
    assert "in the future" in body["period"]["end"][0]


def test_a_batch_older_than_batch_id_retention_is_refused(post, make_batch):
    body = refused(post(make_batch(end=datetime.now(UTC) - timedelta(days=3))))
    assert "too late" in body["period"]["end"][0]


def test_too_many_entries_are_refused(post, make_batch, entry, settings):
    settings.METRICS_MAX_ENTRIES = 3
    body = refused(post(make_batch(*[entry(variant=f"v{i}") for i in range(4)])))
    assert body["flags"] == ["Too many entries: at most 3 per batch, got 4."]


def test_the_default_cap_is_ten_thousand(settings):
    assert settings.METRICS_MAX_ENTRIES == 10_000


def test_a_bad_batch_id_is_refused(post, make_batch):
    body = refused(post(make_batch(batch_id="not hex!")))
    assert "hexadecimal" in body["batch_id"][0]


def test_one_bad_entry_refuses_the_whole_batch(post, make_batch, entry):
    body = refused(post(make_batch(entry(), entry(variant="", evaluations=1))))
    assert list(body["flags"]) == ["1"]


def test_ingest_batch_itself_refuses_what_breaks_the_rules(production, make_batch, entry):
    """Callers other than the API (the inbox's drain, a shell) get the same rules, every problem at once."""
    batch = make_batch(entry(successes=1, errors=0, counts=[5] + [0] * 13), entry(variant="off"))
    batch["flags"][1]["latency_ms"] = {"bounds": [3, 30, 300], "counts": [1, 1, 1, 0], "sum": 9.0}
    with pytest.raises(BatchError) as refused_batch:
        ingest_batch(production, batch, now=datetime.now(UTC) + timedelta(days=3))
    errors = refused_batch.value.errors
    assert set(errors) == {"period", "flags"} and set(errors["flags"]) == {"0", "1"}
    assert "too late" in errors["period"]["end"][0]
    assert "more observations" in errors["flags"]["0"]["latency_ms"][0]
    assert "not standard bounds" in errors["flags"]["1"]["latency_ms"]["bounds"][0]
    assert not MetricBatch.objects.exists()
