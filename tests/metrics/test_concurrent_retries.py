"""Two deliveries of one batch at the same moment: exactly one is counted."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from controlplane.metrics.queries import arm_counts
from controlplane.metrics.services import ingest_batch


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_batch_count_once(production, make_batch):
    batch = make_batch()
    start = threading.Barrier(4)

    def deliver(_):
        try:
            start.wait()
            return ingest_batch(production.id, batch)
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(deliver, range(4)))

    assert sorted(result.duplicate for result in results) == [False, True, True, True]
    totals = arm_counts(production.id, "new-checkout", ["on"], datetime.now(UTC) - timedelta(hours=1))
    assert totals.requests == 10


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_for_the_same_bucket_all_add_up(production, make_batch, entry):
    batches = [make_batch(entry(variant="on"), entry(variant="off")) for _ in range(8)]
    start = threading.Barrier(8)

    def deliver(batch):
        try:
            start.wait()
            return ingest_batch(production.id, batch)
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        assert not any(result.duplicate for result in pool.map(deliver, batches))
    since = datetime.now(UTC) - timedelta(hours=1)
    assert arm_counts(production.id, "new-checkout", ["on", "off"], since).requests == 160
