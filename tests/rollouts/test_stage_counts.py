"""A closed stage is counted once: its SDK counts are stored, and later ticks read them from there.

The plan is moved through its stages by a person (promote) on the engine's clock, a minute apart,
with SDK reports in each stage; ``ROLLOUTS_SAMPLE_RATIO_SETTLE_S`` (how long reports of a closed
stage may still arrive) is set to 0 where the test wants a closed stage stored at once.
"""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from controlplane.metrics import services as metrics_services
from controlplane.metrics.queries import arm_counts
from controlplane.metrics.services import bucket_start
from controlplane.rollouts import clock, services
from controlplane.rollouts.measurements import totals_from_bytes
from controlplane.rollouts.models import RolloutPlan, StageCounts
from tests.rollouts.helpers import ERROR_RULE, act, batch_of, create_plan, report, report_on_time

pytestmark = pytest.mark.django_db

HEALTHY = {"on": (300, 3), "off": (3000, 30)}
LATENCY_RULE = {"key": "p95", "metric": "latency_p", "comparison": "vs_control_absolute", "threshold": 50,
                "percentile": 0.95, "min_samples": 100}  # fmt: skip
MAX_QUERIES_PER_EVALUATE = 11
"""A hold of a plan with SDK rules, whatever stage it is at (68 at stage 3 before closed stages were stored)."""


@pytest.fixture
def plan_at_stage_3(api, production, checkout_flag, monkeypatch) -> int:
    """Started three minutes ago; promoted to stage 2 two minutes ago and to stage 3 a minute ago."""
    stages = [
        {"percent": 1, "min_dwell_s": 600},
        {"percent": 5, "min_dwell_s": 600},
        {"percent": 50, "min_dwell_s": 600},
    ]
    plan = create_plan(api, stages, rules=[ERROR_RULE, LATENCY_RULE])
    now = time.time()
    for minutes_ago, action in ((3, "start"), (2, "promote"), (1, "promote")):
        monkeypatch.setattr(clock, "now", lambda at=now - minutes_ago * 60: at)
        act(api, plan["id"], action)
        report_on_time(production.id, HEALTHY, at=now - minutes_ago * 60 + 20)
    monkeypatch.setattr(clock, "now", lambda: now)
    return plan["id"]


def numbers(entry) -> list[tuple]:
    return [(o["treatment_n"], o["control_n"], o["lower"], o["upper"]) for o in entry.outcomes]


def test_a_closed_stage_is_stored_with_the_counts_it_had(plan_at_stage_3, settings, production):
    settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S = 0
    services.evaluate(plan_at_stage_3)

    stored = StageCounts.objects.filter(plan_id=plan_at_stage_3)
    assert {(row.variant, row.until > row.since) for row in stored} == {("on", True), ("off", True)}
    assert stored.count() == 2 * 2  # both arms of both closed stages (with no settling time, the rules'
    # periods and the sample-ratio check's are the same)
    for row in stored:
        live = arm_counts(production.id, "new-checkout", [row.variant], row.since, row.until)
        assert totals_from_bytes(row.counts) == live


def test_decisions_read_from_stored_stages_are_those_counted_live(plan_at_stage_3, settings):
    settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S = 3600  # every stage still counted from the buckets
    live = numbers(services.evaluate(plan_at_stage_3))
    assert not StageCounts.objects.exists()

    settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S = 0
    storing = numbers(services.evaluate(plan_at_stage_3))
    stored = numbers(services.evaluate(plan_at_stage_3))
    assert live == storing == stored
    assert live[0][0] == 3 * 300  # three stages' reports of the treatment


def test_a_report_that_arrives_after_its_stage_was_stored_counts_in_it_once(plan_at_stage_3, settings, sdk):
    settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S = 0
    before = numbers(services.evaluate(plan_at_stage_3))
    report(sdk, HEALTHY, at=time.time() - 170)  # into stage 1, long closed and stored
    after = numbers(services.evaluate(plan_at_stage_3))
    assert [n[:2] for n in after] == [(n[0] + 300, n[1] + 3000) for n in before]
    assert numbers(services.evaluate(plan_at_stage_3)) == after


def test_a_batch_five_minutes_late_for_a_closed_stage_counts_in_it(api, production, checkout_flag, monkeypatch):
    """Stage 1 lasted from 10 to 8 minutes ago and was stored 5 minutes ago; one of its batches
    arrives 5 minutes late (an SDK's retry)."""
    stages = [{"percent": 1, "min_dwell_s": 60}, {"percent": 5, "min_dwell_s": 3600}]
    plan_id = create_plan(api, stages, rules=[ERROR_RULE])["id"]
    now = time.time()
    at = {"now": now - 600}
    monkeypatch.setattr(clock, "now", lambda: at["now"])
    act(api, plan_id, "start")
    report_on_time(production.id, HEALTHY, at=now - 580)
    at["now"] = now - 480
    act(api, plan_id, "promote")
    report_on_time(production.id, HEALTHY, at=now - 460)
    at["now"] = now - 300
    services.evaluate(plan_id)
    stage_1 = StageCounts.objects.filter(plan_id=plan_id, variant="on", until__lte=clock.moment(now - 480))
    late = batch_of({"on": (300, 30), "off": (3000, 30)}, at=now - 510)
    metrics_services.ingest_batch(production.id, late, now=clock.moment(now - 210))
    at["now"] = now - 200
    entry = services.evaluate(plan_id)
    assert (entry.outcomes[0]["treatment_n"], entry.outcomes[0]["treatment_events"]) == (3 * 300, 3 + 3 + 30)
    counted = {(row.since, totals_from_bytes(row.counts).requests, row.counted_at) for row in stage_1}
    recounted_at = clock.moment(now - 200)
    assert counted == {(bucket_start(clock.moment(now - 600)), 600, recounted_at),  # the rule's
                       (bucket_start(clock.moment(now - 540)), 300, recounted_at)}  # fmt: skip  # the check's


def test_an_evaluation_makes_a_few_queries_however_many_stages_the_plan_passed(plan_at_stage_3, settings):
    settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S = 0
    services.evaluate(plan_at_stage_3)  # stores the closed stages
    with CaptureQueriesContext(connection) as captured:
        entry = services.evaluate(plan_at_stage_3)
    assert entry.action == "hold"
    assert RolloutPlan.objects.get(pk=plan_at_stage_3).stage_index == 2
    queries = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert len(queries) <= MAX_QUERIES_PER_EVALUATE, "\n".join(sql[:120] for sql in queries)  # test's savepoints aside
