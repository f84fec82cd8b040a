"""Batches parked in Redis while PostgreSQL was unavailable are counted once when drained.

(The outage itself, on a private PostgreSQL, is tests/edge/test_postgres_outage.py.)"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from controlplane.documents import cache
from controlplane.metrics import inbox
from controlplane.metrics.errors import InboxFull
from controlplane.metrics.models import MetricBatch
from controlplane.metrics.queries import arm_counts
from tests.helpers import wait_for
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


def test_batches_parked_by_the_version_before_are_checked_when_drained(production):
    """Parked as they were before the batch's text was kept (the decoded batch encoded again) and
    marked as read by the request: the drain reads them as a request does."""
    good = make_batch(entry(evaluations=10, successes=8, errors=2))
    bad = make_batch(entry(evaluations=10, successes=1, errors=0, counts=[5] + [0] * 13))
    for batch in (good, bad):
        parked = {"environment_id": production.id, "received_at": timezone.now().isoformat(), "batch": batch}
        cache.client().rpush(inbox.inbox_key(), json.dumps(parked))

    assert inbox.drain() == {"counted": 1, "duplicates": 0, "rejected": 1, "left": 0}
    assert counted(production.id) == (10, 10, 2)


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


def drain_in_a_thread() -> tuple[threading.Thread, list]:
    results: list = []
    thread = threading.Thread(target=lambda: results.append(inbox.drain()))
    thread.start()
    return thread, results


@contextmanager
def batch_id_held(environment_id: int, batch: dict) -> Iterator[None]:
    """The batch's id inserted by a transaction left open for the block: counting the batch waits
    for it (the unique constraint), then goes on once it is rolled back."""
    end = datetime.fromisoformat(batch["period"]["end"])
    with transaction.atomic():
        MetricBatch.objects.create(environment_id=environment_id, batch_id=batch["batch_id"], received_at=end,
                                   period_start=end, period_end=end, sdk_name="x", sdk_version="1",
                                   entries=1)  # fmt: skip
        yield
        transaction.set_rollback(True)


def waiting_on_the_batch_id() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # read once per transaction otherwise
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_a_drain_longer_than_its_lock_timeout_keeps_the_lock_and_ends_cleanly(production, monkeypatch):
    # Renewed every second: it expires only if the renewing thread is starved for two (loaded cores).
    monkeypatch.setattr(inbox, "DRAIN_LOCK_S", 3.0)
    batch = make_batch(entry(evaluations=10, successes=8, errors=2))
    inbox.park(production.id, as_text(batch), timezone.now())
    client = cache.client()
    key = inbox.drain_lock_key()

    with batch_id_held(production.id, batch):
        thread, results = drain_in_a_thread()
        wait_for(waiting_on_the_batch_id, timeout=30)
        expiry = time.monotonic() + client.pttl(key) / 1000  # as Redis has it now
        # Past that expiry the lock is still the drain's (renewed, as Redis says): another drain finds it busy.
        wait_for(lambda: time.monotonic() > expiry and client.pttl(key) > 0, timeout=30)
        assert inbox.drain()["busy"] == 1
    thread.join(timeout=30)

    assert results == [{"counted": 1, "duplicates": 0, "rejected": 0, "left": 0}]
    assert counted(production.id) == (10, 10, 2)
    assert not client.exists(inbox.drain_lock_key())


@pytest.mark.django_db(transaction=True)
def test_a_drain_that_lost_its_lock_stops_after_its_batch_without_raising(production, caplog):
    first, second = make_batch(entry(evaluations=10, successes=8, errors=2)), make_batch(entry(evaluations=1))
    for batch in (first, second):
        inbox.park(production.id, as_text(batch), timezone.now())

    with batch_id_held(production.id, first):
        thread, results = drain_in_a_thread()
        wait_for(waiting_on_the_batch_id, timeout=30)
        cache.client().delete(inbox.drain_lock_key())  # as if it had expired while the worker was paused
    thread.join(timeout=30)

    assert results == [{"counted": 1, "duplicates": 0, "rejected": 0, "left": 1}]
    assert "had lost its lock" in caplog.text
    assert inbox.drain() == {"counted": 1, "duplicates": 0, "rejected": 0, "left": 0}
    assert counted(production.id) == (11, 20, 4)
