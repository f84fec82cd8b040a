"""A tick's batch of plans costs a few queries for the whole batch and none more for each of its plans
that holds, however many stages each plan has passed: plans, stages, rules, stored counts and the SDK periods still to
count are read once for the batch (``services.load_active``), then each plan is decided on its own,
and the batch's holds are written together (a transition is written at once, under its plan's lock).

Plans are moved through their stages by a person (promote) on the engine's clock, a minute apart;
``ROLLOUTS_SAMPLE_RATIO_SETTLE_S`` is 0 so that closed stages are stored at the first evaluation.
"""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from controlplane.audit.services import SYSTEM
from controlplane.flags.services import create_flag
from controlplane.metrics.models import MetricBucket
from controlplane.rollouts import clock, tasks
from controlplane.rollouts.models import Decision, RolloutPlan
from tests.rollouts.helpers import ERROR_RULE, act, create_plan

pytestmark = pytest.mark.django_db

LATENCY_RULE = {"key": "p95", "metric": "latency_p", "comparison": "vs_control_absolute", "threshold": 50,
                "percentile": 0.95, "min_samples": 100}  # fmt: skip
STAGES = [{"percent": 1, "min_dwell_s": 600}, {"percent": 5, "min_dwell_s": 600}, {"percent": 50, "min_dwell_s": 600}]
BATCH_QUERIES = 7
"""The batch's plans (with flags, projects, environments and whether each flag is on), their
stages and rules, stored counts: closed stages' and the open stage's SDK counts (each with
whether a late batch makes it counted again, in the same query), Prometheus rules' closed stages,
and every plan's SDK periods that are not stored (one query)."""
PLAN_QUERIES = 0
"""A plan's hold: none of its own (its SDK periods are counted with the batch's, its hold written
with the batch's other holds)."""
HOLDS_QUERIES = 4
"""The batch's holds: the transaction (2), the plans' new state written under their row locks (one
statement), and their decision logs (each hold folded into its plan's last entry, one statement)."""


@pytest.fixture
def plans_at_stage(api, project, monkeypatch, settings):
    """``plans_at_stage(count, stage)``: ``count`` plans of their own flags with two SDK rules,
    started ``stage`` minutes ago and promoted once a minute since, evaluated once (closed stages stored)."""
    settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S = 0
    now = time.time()
    made = 0

    def make(count: int, stage: int) -> list[int]:
        nonlocal made
        ids = []
        for _ in range(count):
            flag = create_flag(project, SYSTEM, key=f"batched-{made}")
            made += 1
            plan = create_plan(api, STAGES, rules=[ERROR_RULE, LATENCY_RULE], flag=flag.key)
            for minutes_ago, action in [(stage, "start")] + [(m, "promote") for m in range(stage - 1, 0, -1)]:
                monkeypatch.setattr(clock, "now", lambda at=now - minutes_ago * 60: at)
                act(api, plan["id"], action)
            ids.append(plan["id"])
        monkeypatch.setattr(clock, "now", lambda: now)
        tasks.evaluate_plans(ids, "first tick")
        return ids

    return make


def evaluated_batch(plan_ids: list[int]) -> list[str]:
    """The SQL of one batch's evaluation (the test's savepoints in place of BEGIN and COMMIT)."""
    with CaptureQueriesContext(connection) as captured:
        tasks.evaluate_plans(plan_ids, "tick")
    return [query["sql"] for query in captured.captured_queries]


def test_a_batch_of_holds_costs_a_few_queries_however_many_plans_it_has(plans_at_stage, django_assert_max_num_queries):
    plan_ids = plans_at_stage(6, stage=3)
    with django_assert_max_num_queries(BATCH_QUERIES + HOLDS_QUERIES + len(plan_ids) * PLAN_QUERIES):
        tasks.evaluate_plans(plan_ids, "tick")
    assert set(RolloutPlan.objects.filter(pk__in=plan_ids).values_list("stage_index", flat=True)) == {2}
    holds = Decision.objects.filter(plan_id__in=plan_ids, action="hold")
    assert sorted(holds.values_list("repeats", flat=True)) == [2] * len(plan_ids)  # both ticks, folded


def test_stages_rules_and_stored_counts_are_read_once_for_the_whole_batch(plans_at_stage):
    queries = evaluated_batch(plans_at_stage(4, stage=3))
    for table in ("rollouts_stage", "rollouts_healthrule", "rollouts_stagecounts"):
        assert sum(f'FROM "{table}"' in sql for sql in queries) == 1, table
    assert sum(f"FROM {MetricBucket._meta.db_table} " in sql for sql in queries) == 1  # every plan's SDK periods


def test_a_batch_s_queries_are_exactly_its_shared_reads_and_each_plan_s_writes(plans_at_stage):
    plan_ids = plans_at_stage(5, stage=3)
    assert len(evaluated_batch(plan_ids)) == BATCH_QUERIES + HOLDS_QUERIES + len(plan_ids) * PLAN_QUERIES


def test_a_batch_costs_the_same_whatever_stage_its_plans_are_at(plans_at_stage):
    at_stage_1 = evaluated_batch(plans_at_stage(3, stage=1))
    at_stage_3 = evaluated_batch(plans_at_stage(3, stage=3))
    assert len(at_stage_3) == len(at_stage_1), "\n".join(sql[:120] for sql in at_stage_3)
