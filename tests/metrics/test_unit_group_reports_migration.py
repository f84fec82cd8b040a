"""Migration 0007 gathers the rows of a unit group each (0006) into a row per series and bucket,
histograms sparse, with the same totals; reversed, it splits every batch's rows back into a row
per group, a bucket's batches added up."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from controlplane.metrics.histogram import HISTOGRAM_SIZE
from controlplane.metrics.models import MetricUnitBucket
from controlplane.metrics.queries import arm_counts
from flagplane.metrics import UNIT_GROUPS

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("metrics", "0006_unit_group_rows")]
AFTER = [("metrics", "0007_unit_group_reports")]
START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)


def migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def group_rows(environment_id: int) -> list[tuple]:
    """Rows as 0006 stored them, a group each (zero histograms too: a group reported without latencies)."""
    rng = random.Random(7)
    rows = []
    for minute in range(3):
        for variant in ("on", "off"):
            for g in sorted(rng.sample(range(UNIT_GROUPS), 12)):
                counts = [0] * HISTOGRAM_SIZE
                successes, errors = rng.randint(0, 40), rng.randint(0, 4)
                for _ in range(rng.randint(0, successes + errors)):
                    counts[rng.randrange(HISTOGRAM_SIZE)] += 1
                rows.append((environment_id, "new-checkout", variant, START + timedelta(minutes=minute), g,
                             successes, errors, counts))  # fmt: skip
    return rows


def stored_group_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT environment_id, flag_key, variant, bucket_start, unit_group, successes, errors, latency_counts"
            " FROM metrics_metricunitbucket ORDER BY bucket_start, variant, unit_group"
        )
        return cursor.fetchall()


@pytest.fixture
def per_group(production):
    migrate(BEFORE)
    rows = group_rows(production.id)
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO metrics_metricunitbucket (environment_id, flag_key, variant, bucket_start, unit_group,"
            " successes, errors, latency_counts) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    yield sorted(rows, key=lambda row: (row[3], row[2], row[4]))
    migrate(AFTER)


def test_the_group_rows_of_a_series_and_bucket_become_one_row_with_the_same_totals(per_group, production):
    migrate(AFTER)
    assert MetricUnitBucket.objects.count() == 6  # 3 buckets of 2 variants
    for report in MetricUnitBucket.objects.all():
        mine = [row for row in per_group if (row[2], row[3]) == (report.variant, report.bucket_start)]
        assert (report.environment_id, report.batch) == (production.id, 0)
        assert report.unit_groups == [row[4] for row in mine]
        assert (report.successes, report.errors) == ([row[5] for row in mine], [row[6] for row in mine])
        assert 0 not in report.latency_counts
        assert report.histograms() == {row[4]: row[7] for row in mine}
    for variant in ("on", "off"):
        totals = arm_counts(production.id, "new-checkout", [variant], START)
        mine = [row for row in per_group if row[2] == variant]
        for g in range(UNIT_GROUPS):
            rows = [row for row in mine if row[4] == g]
            assert totals.unit_errors[g] == sum(row[6] for row in rows)
            assert totals.unit_requests[g] == sum(row[5] + row[6] for row in rows)
            histogram = [sum(c) for c in zip(*[row[7] for row in rows], strict=True)] if rows else [0] * HISTOGRAM_SIZE
            assert list(totals.unit_histograms[g]) == histogram


def test_reversed_it_splits_the_rows_back_into_the_group_rows(per_group):
    migrate(AFTER)
    migrate(BEFORE)
    assert stored_group_rows() == per_group


def test_reversed_it_adds_up_the_rows_of_a_bucket_that_several_batches_wrote(per_group, production):
    migrate(AFTER)
    first = per_group[0]
    MetricUnitBucket.objects.create(
        environment_id=production.id, flag_key=first[1], variant=first[2], bucket_start=first[3], batch=41,
        unit_groups=[first[4], 63], successes=[1, 2], errors=[0, 1],
        latency_bins=[first[4] * HISTOGRAM_SIZE + 2, 63 * HISTOGRAM_SIZE], latency_counts=[1, 3],
    )  # fmt: skip
    migrate(BEFORE)
    counts = list(first[7])
    counts[2] += 1
    added = (*first[:5], first[5] + 1, first[6], counts)
    new_group = (*first[:4], 63, 2, 1, [3] + [0] * (HISTOGRAM_SIZE - 1))
    expected = sorted([added, new_group, *per_group[1:]], key=lambda row: (row[3], row[2], row[4]))
    assert stored_group_rows() == expected
