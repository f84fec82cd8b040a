"""A batch's series are added to their bucket rows exactly: any key, repeated series, histograms
elementwise, and two batches writing the same rows at once (one waits for the other's rows)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.utils import timezone

from controlplane.metrics.models import MetricBucket
from controlplane.metrics.services import count_batch
from controlplane.metrics.wire import read_batch

HISTOGRAM = [0, 3, 4, 2, 1] + [0] * 9


@pytest.mark.django_db
def test_keys_with_quotes_commas_braces_and_backslashes_are_stored_as_sent(post, production, entry, make_batch):
    keys = ['a"b', "c,d", "{e}", "f\\g", "NULL", "h i", "'j'"]
    assert post(make_batch(*[entry(flag=key, variant=key) for key in keys])).status_code == 202
    stored = set(MetricBucket.objects.filter(environment=production).values_list("flag_key", "variant"))
    assert stored == {(key, key) for key in keys}


@pytest.mark.django_db
def test_repeated_series_add_up_with_and_without_a_histogram(post, production, entry, make_batch):
    without_latency = entry(successes=5, errors=0)
    del without_latency["latency_ms"]
    batch = {
        **make_batch(entry(counts=HISTOGRAM, latency_sum=10.0), without_latency, entry(latency_sum=2.5)),
        "format": 2,
    }
    assert post(batch).status_code == 202
    bucket = MetricBucket.objects.get(environment=production)
    assert (bucket.evaluations, bucket.successes, bucket.errors) == (30, 21, 4)
    assert bucket.latency_counts == [2 * count for count in HISTOGRAM]
    assert bucket.latency_sum == 12.5
    assert bucket.ungrouped_signals == 0


@pytest.mark.django_db
def test_a_format_1_batch_counts_its_repeated_signals_as_ungrouped(post, production, entry, make_batch):
    batch = {**make_batch(entry(), entry(successes=1, errors=1, counts=[1, 1] + [0] * 12)), "format": 1}
    assert post(batch).status_code == 202
    assert MetricBucket.objects.get(environment=production).ungrouped_signals == 12


@pytest.mark.django_db(transaction=True)
def test_a_batch_waiting_for_another_batchs_rows_adds_to_them(production, entry, make_batch):
    """Two connections: the first holds its bucket rows uncommitted, the second waits for them
    (seen as a lock wait in pg_stat_activity) and adds to what the first committed."""
    now = timezone.now()
    series = [entry(flag=f"flag-{i}", variant=variant) for i in range(50) for variant in ("on", "off")]
    first, second = (read_batch(make_batch(*series, end=now), now) for _ in range(2))
    first_counted, release = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def hold_first() -> None:
        try:
            with transaction.atomic():
                count_batch(production.id, first, now)
                first_counted.set()
                assert release.wait(60)
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)
            first_counted.set()
        finally:
            connection.close()

    def count_second() -> None:
        try:
            count_batch(production.id, second, now)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_first)
    holder.start()
    assert first_counted.wait(60)
    waiter = threading.Thread(target=count_second)
    waiter.start()
    try:
        wait_for_a_lock_wait()
        assert waiter.is_alive()  # still waiting for the first batch's rows
    finally:
        release.set()
        holder.join(60)
        waiter.join(60)
    assert not failures
    buckets = MetricBucket.objects.filter(environment=production)
    assert buckets.count() == 100
    for bucket in buckets:
        assert (bucket.evaluations, bucket.successes, bucket.errors) == (20, 16, 4)
        assert bucket.latency_counts == [2 * count for count in HISTOGRAM]
        assert bucket.latency_sum == 85.0


def wait_for_a_lock_wait(timeout_s: float = 60) -> None:
    """Until another connection of this test database waits for a lock (polled; the machine may
    be slow to get the waiting statement that far)."""
    deadline = time.monotonic() + timeout_s
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError(f"no connection waited for a lock within {timeout_s} s ({datetime.now(UTC):%H:%M:%S})")
