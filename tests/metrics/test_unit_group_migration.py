"""Migration 0006 moves the dense per-bucket unit-group rows to one row per group, with the same
totals, and gathers them back when reversed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from controlplane.metrics.histogram import HISTOGRAM_SIZE
from controlplane.metrics.queries import arm_counts
from flagplane.metrics import UNIT_GROUPS

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("metrics", "0005_late_buckets")]
AFTER = [("metrics", "0006_unit_group_rows")]
LATEST = [("metrics", "0007_unit_group_reports")]


def migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def dense_rows(environment_id: int) -> list[tuple]:
    """Rows as 0002-0005 stored them: per bucket, every group's signals and histograms in arrays."""
    rng = random.Random(6)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    rows = []
    for minute in range(3):
        for variant in ("on", "off"):
            successes, errors = [0] * UNIT_GROUPS, [0] * UNIT_GROUPS
            counts = [0] * (UNIT_GROUPS * HISTOGRAM_SIZE)
            for g in rng.sample(range(UNIT_GROUPS), 10):
                successes[g], errors[g] = rng.randint(0, 40), rng.randint(0, 4)
                for _ in range(successes[g] + errors[g]):
                    counts[g * HISTOGRAM_SIZE + rng.randrange(HISTOGRAM_SIZE)] += 1
            rows.append((environment_id, "new-checkout", variant, start + timedelta(minutes=minute),
                         successes, errors, counts))  # fmt: skip
    return rows


def stored_dense() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT environment_id, flag_key, variant, bucket_start, successes, errors, latency_counts"
            " FROM metrics_metricunitbucket ORDER BY bucket_start, variant"
        )
        return cursor.fetchall()


def group_rows(flag_key: str, variant: str, bucket_start: datetime) -> list[list]:
    """The rows of a group each that 0006 wrote: group, environment, successes, errors, histogram."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT unit_group, environment_id, successes, errors, latency_counts FROM metrics_metricunitbucket"
            " WHERE flag_key = %s AND variant = %s AND bucket_start = %s",
            [flag_key, variant, bucket_start],
        )
        return [list(row) for row in cursor.fetchall()]


@pytest.fixture
def dense(production):
    migrate(BEFORE)
    rows = dense_rows(production.id)
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO metrics_metricunitbucket"
            " (environment_id, flag_key, variant, bucket_start, successes, errors, latency_counts)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    yield sorted(rows, key=lambda row: (row[3], row[2]))
    migrate(LATEST)


def test_each_group_with_signals_becomes_a_row_and_every_total_stays(dense, production):
    migrate(AFTER)
    for environment_id, flag_key, variant, bucket_start, successes, errors, counts in dense:
        rows = group_rows(flag_key, variant, bucket_start)
        assert {row[0] for row in rows} == {g for g in range(UNIT_GROUPS) if successes[g] or errors[g]}
        for g, *stored in rows:
            histogram = counts[g * HISTOGRAM_SIZE : (g + 1) * HISTOGRAM_SIZE]
            assert stored == [environment_id, successes[g], errors[g], histogram]
    migrate(LATEST)  # and 0007 keeps what the engine reads
    for variant in ("on", "off"):
        totals = arm_counts(production.id, "new-checkout", [variant], dense[0][3])
        mine = [row for row in dense if row[2] == variant]
        successes = tuple(map(sum, zip(*[row[4] for row in mine], strict=True)))
        assert totals.unit_errors == tuple(map(sum, zip(*[row[5] for row in mine], strict=True)))
        assert totals.unit_requests == tuple(s + e for s, e in zip(successes, totals.unit_errors, strict=True))
        flat = tuple(map(sum, zip(*[row[6] for row in mine], strict=True)))
        assert [c for histogram in totals.unit_histograms for c in histogram] == list(flat)


def test_reversed_it_gathers_the_rows_back_into_the_dense_ones(dense):
    migrate(AFTER)
    migrate(BEFORE)
    assert stored_dense() == dense
