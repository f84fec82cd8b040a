"""A flag's activity row (when SDKs last evaluated it) is rewritten at most once a minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from controlplane.metrics.models import FlagActivity
from controlplane.metrics.services import ACTIVITY_RESOLUTION, ingest_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def report(production, make_batch, entry):
    """``report(end)``: an SDK's batch for new-checkout ending at ``end``, received a second later."""

    def report(end: datetime):
        return ingest_batch(production.id, make_batch(entry(), end=end), now=end + timedelta(seconds=1))

    return report


def stored() -> tuple[datetime, datetime, str]:
    """The row's first and last evaluation, and its physical place: a rewrite moves it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT first_evaluated_at, last_evaluated_at, ctid::text FROM metrics_flagactivity")
        (row,) = cursor.fetchall()
    return row


def test_batches_within_a_minute_leave_the_row_as_it_was(report):
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    report(t0)
    first = stored()
    assert timedelta(minutes=1) == ACTIVITY_RESOLUTION
    for seconds in (10, 30, 59):
        report(t0 + timedelta(seconds=seconds))
    assert stored() == first
    assert first[:2] == (t0, t0)


def test_a_batch_a_minute_later_moves_the_last_evaluation_on(report):
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    report(t0)
    report(t0 + timedelta(seconds=30))
    report(t0 + timedelta(seconds=61))
    first_evaluated_at, last_evaluated_at, _ = stored()
    assert (first_evaluated_at, last_evaluated_at) == (t0, t0 + timedelta(seconds=61))


def test_a_late_batch_moves_the_first_evaluation_back_at_once(report):
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    report(t0)
    report(t0 - timedelta(seconds=5))  # an SDK's retry of an older batch
    assert stored()[:2] == (t0 - timedelta(seconds=5), t0)
    assert FlagActivity.objects.count() == 1


def test_batches_within_a_minute_do_not_even_lock_the_row(report):
    """A lock is a write to the row's page (its xmax): the upsert skips the rows it would not change."""
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    report(t0)
    before = row_lock()
    report(t0 + timedelta(seconds=10))
    assert row_lock() == before


def row_lock() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT xmax::text FROM metrics_flagactivity")
        (row,) = cursor.fetchall()
    return row[0]
