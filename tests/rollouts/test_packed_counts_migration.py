"""Migration 0007 packs the stored SDK counts (``StageCounts``, ``RunningCounts``) that 0003-0006
kept as JSON, with the same totals, and writes the JSON back when reversed."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from controlplane.metrics.histogram import HISTOGRAM_SIZE, STANDARD_BOUNDS_MS
from controlplane.rollouts.measurements import totals_from_bytes, totals_from_json
from controlplane.rollouts.models import RunningCounts, StageCounts
from flagplane.metrics import UNIT_GROUPS
from tests.rollouts.helpers import ERROR_RULE, create_plan

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("rollouts", "0006_counted_at")]
AFTER = [("rollouts", "0007_packed_counts")]
TABLES = {"stagecounts": StageCounts, "runningcounts": RunningCounts}


def migrate(targets: list[tuple[str, str]]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def stored_json(rng: random.Random) -> list[dict]:
    """Totals as 0003-0006 stored them: with unit groups and latencies, the sample-ratio check's
    (no latencies), and a row of SDKs without unit groups stored before ``latencies`` was kept."""

    def counts(size: int) -> list[int]:
        return [rng.randint(0, 10**12) for _ in range(size)]

    common = {"evaluations": 900, "bounds_ms": list(STANDARD_BOUNDS_MS), "latency_sum": 81234.5}
    grouped = {"unit_requests": counts(UNIT_GROUPS), "unit_errors": counts(UNIT_GROUPS), "ungrouped": 0}
    return [
        {**common, **grouped, "requests": 800, "errors": 8, "histogram": counts(HISTOGRAM_SIZE),
         "unit_histograms": [counts(HISTOGRAM_SIZE) for _ in range(UNIT_GROUPS)], "latencies": True},
        {**common, **grouped, "requests": 700, "errors": 7, "histogram": [0] * HISTOGRAM_SIZE,
         "unit_histograms": [], "latencies": False},
        {**common, "requests": 5, "errors": 1, "histogram": counts(HISTOGRAM_SIZE), "ungrouped": 5,
         "unit_requests": [], "unit_errors": [], "unit_histograms": []},
    ]  # fmt: skip


@pytest.fixture
def json_rows(api, checkout_flag):
    """Three rows of each table of one plan, as 0006 stored them: {(table, since): totals}."""
    plan_id = create_plan(api, [{"percent": 5, "min_dwell_s": 60}], rules=[ERROR_RULE])["id"]
    migrate(BEFORE)
    start = datetime.now(UTC).replace(microsecond=0)
    rows = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            for number, totals in enumerate(stored_json(random.Random(table))):
                since = start + timedelta(minutes=number)
                cursor.execute(
                    f"INSERT INTO rollouts_{table} (plan_id, variant, since, until, totals, counted_at)"
                    " VALUES (%s, 'on', %s, %s, %s, %s)",
                    [plan_id, since, since + timedelta(minutes=1), json.dumps(totals), start],
                )
                rows[(table, since)] = totals
    yield rows
    migrate(AFTER)


def test_each_stored_count_is_packed_with_the_same_totals(json_rows):
    migrate(AFTER)
    packed = {(table, row.since): row for table, model in TABLES.items() for row in model.objects.all()}
    assert packed.keys() == json_rows.keys()
    for key, totals in json_rows.items():
        assert totals_from_bytes(packed[key].counts) == totals_from_json(totals), key
    assert [totals_from_bytes(row.counts).latencies for row in StageCounts.objects.order_by("since")] == [
        True, False, True  # the old row without the field was counted with its latencies
    ]  # fmt: skip


def test_reversed_it_writes_the_same_json_back(json_rows):
    migrate(AFTER)
    migrate(BEFORE)
    with connection.cursor() as cursor:
        back = {}
        for table in TABLES:
            cursor.execute(f"SELECT since, totals FROM rollouts_{table}")
            back.update({(table, since): json.loads(totals) for since, totals in cursor.fetchall()})
    assert back == {key: {"latencies": True, **totals} for key, totals in json_rows.items()}
