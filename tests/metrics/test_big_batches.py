"""A batch too big to count on the request (more than METRICS_PARK_ROWS rows) is answered queued
and counted by a real Celery worker at once; a bad one is still refused on the request."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from controlplane.documents import cache
from controlplane.metrics import inbox
from controlplane.metrics.models import MetricBatch
from controlplane.metrics.queries import arm_counts
from tests.helpers import wait_for, wait_until_worker_idle
from tests.metrics.helpers import entry, make_batch

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

QUEUED = {"accepted": 3, "duplicate": False, "queued": True}


@pytest.fixture(autouse=True)
def small_park_threshold(settings):
    """Three entries make a big batch (the worker runs in this process: it sees the setting too)."""
    settings.METRICS_PARK_ROWS = 2


@pytest.fixture(autouse=True)
def empty_inbox():
    client = cache.client()
    client.delete(inbox.inbox_key(), inbox.processing_key(), inbox.drain_lock_key())
    yield
    client.delete(inbox.inbox_key(), inbox.processing_key(), inbox.drain_lock_key())


def big_batch() -> dict:
    return make_batch(*(entry(evaluations=10, successes=8, errors=2) for _ in range(3)))


def counted(environment_id: int, flag: str = "new-checkout") -> tuple[int, int, int]:
    totals = arm_counts(environment_id, flag, ["on"], datetime.now(UTC) - timedelta(hours=1))
    return totals.evaluations, totals.requests, totals.errors


def test_a_big_batch_is_queued_and_counted_by_the_worker(celery_worker, production, post):
    response = post(big_batch())

    assert response.status_code == 202 and response.json() == QUEUED
    wait_for(lambda: counted(production.id) == (30, 30, 6) and inbox.parked() == 0, timeout=60)
    assert MetricBatch.objects.get().entries == 3


def test_retries_of_a_big_batch_while_parked_and_after_are_counted_once(celery_worker, production, post):
    batch = big_batch()
    drain = cache.client().lock(inbox.drain_lock_key(), timeout=60)
    assert drain.acquire(blocking=False)  # as if a drain were running: the queued drains find it busy
    assert post(batch).json() == QUEUED
    assert post(batch).json() == QUEUED
    wait_until_worker_idle()
    assert inbox.parked() == 2 and counted(production.id) == (0, 0, 0)

    drain.release()
    assert post(batch).json() == QUEUED  # its drain counts the three parked copies
    wait_for(lambda: inbox.parked() == 0, timeout=60)
    wait_until_worker_idle()
    assert counted(production.id) == (30, 30, 6) and MetricBatch.objects.count() == 1

    assert post(batch).json() == QUEUED
    wait_for(lambda: inbox.parked() == 0, timeout=60)
    wait_until_worker_idle()
    assert counted(production.id) == (30, 30, 6) and MetricBatch.objects.count() == 1


def test_a_bad_big_batch_is_refused_on_the_request_and_not_parked(celery_worker, post):
    batch = big_batch()
    batch["flags"][1]["errors"] = -1

    response = post(batch)

    assert response.status_code == 400
    assert response.json()["flags"]["1"]["errors"] == ["Must not be negative."]
    assert inbox.parked() == 0


def test_a_small_batch_is_still_counted_on_the_request(production, post):
    response = post(make_batch(entry(evaluations=10, successes=8, errors=2), entry(variant="off")))

    assert response.json() == {"accepted": 2, "duplicate": False, "queued": False}
    assert counted(production.id) == (10, 10, 2) and inbox.parked() == 0


def test_a_big_batch_is_parked_as_the_body_the_sdk_sent(celery_worker, production, sdk):
    body = json.dumps({**big_batch(), "sent_by": "a later SDK"}, indent=1).encode()  # unknown keys are ignored
    drain = cache.client().lock(inbox.drain_lock_key(), timeout=60)
    assert drain.acquire(blocking=False)

    response = sdk.post("/api/v1/metrics", body, content_type="application/json")

    assert response.status_code == 202 and response.json() == QUEUED
    wait_until_worker_idle()  # its drain found the inbox busy
    [parked] = cache.client().lrange(inbox.inbox_key(), 0, -1)
    assert body in parked
    drain.release()
    assert inbox.drain()["counted"] == 1
    assert counted(production.id) == (30, 30, 6)


def test_a_big_batch_in_another_charset_is_parked_as_utf8_and_counted(celery_worker, production, sdk):
    batch = make_batch(*(entry(flag="café", evaluations=10, successes=8, errors=2) for _ in range(3)))

    response = sdk.post("/api/v1/metrics", json.dumps(batch, ensure_ascii=False).encode("latin-1"),
                        content_type="application/json; charset=latin-1")  # fmt: skip

    assert response.status_code == 202 and response.json() == QUEUED
    wait_for(lambda: counted(production.id, "café") == (30, 30, 6) and inbox.parked() == 0, timeout=60)
