"""Batches parked in Redis while PostgreSQL was unavailable are counted once when drained.

(The outage itself, on a private PostgreSQL, is tests/edge/test_postgres_outage.py.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from controlplane.documents import cache
from controlplane.metrics import inbox
from controlplane.metrics.errors import InboxFull
from controlplane.metrics.models import MetricBatch
from controlplane.metrics.queries import arm_counts
from tests.metrics.helpers import as_text, entry, make_batch

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def empty_inbox():
    cache.client().delete(inbox.inbox_key(), inbox.processing_key())
    yield
    cache.client().delete(inbox.inbox_key(), inbox.processing_key())


def counted(environment_id: int) -> tuple[int, int, int]:
    totals = arm_counts(environment_id, "new-checkout", ["on"], datetime.now(UTC) - timedelta(hours=1))
    return totals.evaluations, totals.requests, totals.errors


def test_parked_batches_are_counted_by_the_drain(production):
    for _ in range(3):
        inbox.park(production.id, as_text(make_batch(entry(evaluations=10, successes=8, errors=2))), timezone.now())
    assert inbox.parked() == 3 and counted(production.id) == (0, 0, 0)

    assert inbox.drain() == {"counted": 3, "duplicates": 0, "rejected": 0, "left": 0}
    assert counted(production.id) == (30, 30, 6)


def test_a_drain_that_crashed_after_counting_does_not_count_twice(production):
    batch = make_batch(entry(evaluations=10, successes=8, errors=2))
    inbox.park(production.id, as_text(batch), timezone.now())
    inbox.drain()
    # As if the drain had died between its commit and removing the batch from the processing list.
    inbox.park(production.id, as_text(batch), timezone.now())
    cache.client().lmove(inbox.inbox_key(), inbox.processing_key(), "LEFT", "RIGHT")

    result = inbox.drain()
    assert (result["counted"], result["duplicates"], result["left"]) == (0, 1, 0)
    assert counted(production.id) == (10, 10, 2) and MetricBatch.objects.count() == 1


def test_a_full_inbox_refuses_the_batch(production, settings):
    settings.METRICS_INBOX_MAX = 1
    inbox.park(production.id, as_text(make_batch()), timezone.now())
    with pytest.raises(InboxFull):
        inbox.park(production.id, as_text(make_batch()), timezone.now())
    assert inbox.parked() == 1
