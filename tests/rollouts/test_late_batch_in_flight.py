"""A late batch still being counted when a tick stores its bucket: the tick reads the buckets
without it (its transaction has not committed), and the next tick, which sees its late mark
(``metrics.LateBucket``, written ``IN_FLIGHT`` or less before the stored row's ``counted_at``),
counts the period again with it (``rollouts.models.SdkCountsQuerySet.with_recount``).

The batch is counted by ``metrics.services.ingest_batch`` in a thread of its own, on its own
database connection, inside a transaction the test holds open until the tick has stored its rows.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from controlplane.metrics.models import LateBucket
from controlplane.metrics.services import bucket_start, ingest_batch
from controlplane.rollouts import clock, services
from controlplane.rollouts.measurements import totals_from_bytes
from controlplane.rollouts.models import RunningCounts, StageCounts
from tests.rollouts.helpers import ERROR_RULE, EngineClock, act, batch_of, create_plan, report_on_time

pytestmark = pytest.mark.django_db(transaction=True)

HEALTHY = {"on": (300, 3), "off": (3000, 30)}
LATE = {"on": (300, 30), "off": (3000, 30)}
WAIT_S = 60
"""How long a side waits for the other before the test fails (a lock wait would hang it)."""


def plan_with_stage_1_from_10_to_8_minutes_ago(api, production, engine: EngineClock) -> int:
    stages = [{"percent": 1, "min_dwell_s": 60}, {"percent": 5, "min_dwell_s": 3600}]
    plan_id = create_plan(api, stages, rules=[ERROR_RULE])["id"]
    engine.ago(600)
    act(api, plan_id, "start")
    report_on_time(production.id, HEALTHY, at=engine.real - 580)
    engine.ago(480)
    act(api, plan_id, "promote")
    report_on_time(production.id, HEALTHY, at=engine.real - 460)
    return plan_id


class HeldOpen:
    """``ingest_batch`` of a batch in another thread, its transaction held open until ``commit``."""

    def __init__(self, pool: ThreadPoolExecutor, environment_id: int, batch: dict, counted_at: float) -> None:
        self.counted = threading.Event()
        self.release = threading.Event()
        self.done = pool.submit(self._count, environment_id, batch, counted_at)
        assert self.counted.wait(WAIT_S), self.done.exception(timeout=0) if self.done.done() else "not counted"

    def _count(self, environment_id: int, batch: dict, counted_at: float) -> None:
        try:
            with transaction.atomic():
                ingest_batch(environment_id, batch, now=clock.moment(counted_at))
                self.counted.set()
                assert self.release.wait(WAIT_S), "the tick never finished"
        finally:
            connection.close()

    def commit(self) -> None:
        self.release.set()
        self.done.result(timeout=WAIT_S)


def test_a_late_batch_that_commits_after_its_closed_stage_was_stored_counts_at_the_next_tick(
    api, production, checkout_flag, engine
):
    """Stage 1 lasted from 10 to 8 minutes ago; a batch of it, 4 minutes late, is being counted
    when the first tick that may store the stage stores it, 10 s later (within ``IN_FLIGHT``)."""
    plan_id = plan_with_stage_1_from_10_to_8_minutes_ago(api, production, engine)
    stage_1 = StageCounts.objects.filter(
        plan_id=plan_id, variant="on", since=bucket_start(clock.moment(engine.real - 600))
    )
    with ThreadPoolExecutor(1) as pool:
        late = HeldOpen(pool, production.id, batch_of(LATE, at=engine.real - 510), counted_at=engine.real - 250)
        engine.ago(240)
        first = services.evaluate(plan_id)
        assert first.outcomes[0]["treatment_n"] == 2 * 300  # the late batch is not visible yet
        [stored] = stage_1.all()
        assert totals_from_bytes(stored.counts).requests == 300
        assert not LateBucket.objects.exists()
        late.commit()

    assert LateBucket.objects.get().written_at == clock.moment(engine.real - 250)
    engine.ago(200)
    second = services.evaluate(plan_id)
    assert (second.outcomes[0]["treatment_n"], second.outcomes[0]["treatment_events"]) == (3 * 300, 3 + 3 + 30)
    [recounted] = stage_1.all()
    assert (totals_from_bytes(recounted.counts).requests, recounted.counted_at) == (
        600,
        clock.moment(engine.real - 200),
    )
    assert services.evaluate(plan_id).outcomes[0]["treatment_n"] == 3 * 300  # counted once


def test_a_late_batch_that_commits_after_the_open_stage_s_running_counts_moved_counts_at_the_next_tick(
    api, production, checkout_flag, engine
):
    """Stage 2 opened 8 minutes ago; a batch of it, 3 minutes late, is being counted when the
    first tick (10 s later) stores the open stage's running counts past its bucket."""
    plan_id = plan_with_stage_1_from_10_to_8_minutes_ago(api, production, engine)
    stage_2 = RunningCounts.objects.filter(
        plan_id=plan_id, variant="on", since=bucket_start(clock.moment(engine.real - 480))
    )
    with ThreadPoolExecutor(1) as pool:
        late = HeldOpen(pool, production.id, batch_of(LATE, at=engine.real - 440), counted_at=engine.real - 250)
        engine.ago(240)
        first = services.evaluate(plan_id)
        assert first.outcomes[0]["treatment_n"] == 2 * 300
        [moved] = stage_2.all()
        assert moved.until > clock.moment(engine.real - 440)  # past the late batch's bucket, without it
        assert (totals_from_bytes(moved.counts).requests, moved.counted_at) == (300, clock.moment(engine.real - 240))
        late.commit()

    engine.ago(200)
    second = services.evaluate(plan_id)
    assert (second.outcomes[0]["treatment_n"], second.outcomes[0]["treatment_events"]) == (3 * 300, 3 + 3 + 30)
    [recounted] = stage_2.all()
    assert totals_from_bytes(recounted.counts).requests == 600
    assert services.evaluate(plan_id).outcomes[0]["treatment_n"] == 3 * 300  # counted once
