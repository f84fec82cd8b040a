"""rollouts.prune_counts by what became of the plan: a paused plan's stored counts stay (it is
still active, and its run goes on), a completed or rolled-back plan's go, and so do those of a
run before the current one when a paused plan is promoted (a new run)."""

import pytest

from controlplane.metrics.services import bucket_start
from controlplane.rollouts import clock, services, tasks
from controlplane.rollouts.models import RunningCounts, StageCounts
from tests.rollouts.helpers import (
    HEALTHY,
    EngineClock,
    act,
    plan_evaluated_at_stage_2,
    plan_status,
    report_on_time,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan_at_stage_2(api, production, checkout_flag, engine: EngineClock) -> int:
    """Started 15 minutes ago, promoted 10 minutes ago, reported on in both stages and evaluated
    5 minutes ago: stage 1 is stored as closed, stage 2 has running counts."""
    plan_id = plan_evaluated_at_stage_2(api, production.id, engine)
    assert StageCounts.objects.filter(plan_id=plan_id).exists()
    assert RunningCounts.objects.filter(plan_id=plan_id).exists()
    return plan_id


def stored(plan_id: int) -> set[tuple]:
    """The plan's stored counts: which table, arm, period, totals and when counted."""
    return {
        (type(row).__name__, row.variant, row.since, row.until, bytes(row.counts), row.counted_at)
        for model in (StageCounts, RunningCounts)
        for row in model.objects.filter(plan_id=plan_id)
    }


def test_a_paused_plan_keeps_its_stored_counts(api, plan_at_stage_2, engine: EngineClock):
    engine.ago(200)
    act(api, plan_at_stage_2, "pause", reason="waiting for the release notes")
    assert plan_status(plan_at_stage_2).status == "paused"
    before = stored(plan_at_stage_2)

    deleted = tasks.prune_counts.apply().get()

    assert deleted == {"stagecounts": 0, "runningcounts": 0, "sourcecounts": 0}
    assert stored(plan_at_stage_2) == before
    entry = services.evaluate(plan_at_stage_2)  # a paused plan still watches: from what was kept
    assert entry.outcomes[0]["treatment_n"] == 2 * 300


@pytest.mark.parametrize(("actions", "status"), [(["promote", "promote"], "completed"), (["rollback"], "rolled_back")])
def test_a_completed_or_rolled_back_plan_s_counts_are_deleted(
    api, plan_at_stage_2, engine: EngineClock, actions, status
):
    engine.ago(200)
    for action in actions:
        act(api, plan_at_stage_2, action, reason="done with it")
    assert plan_status(plan_at_stage_2).status == status
    kept = len(stored(plan_at_stage_2))

    deleted = tasks.prune_counts.apply().get()

    assert stored(plan_at_stage_2) == set()
    assert deleted["stagecounts"] + deleted["runningcounts"] == kept > 0


def test_promoting_a_paused_plan_begins_a_run_and_the_earlier_run_s_counts_are_deleted(
    api, production, plan_at_stage_2, engine
):
    engine.ago(290)
    act(api, plan_at_stage_2, "pause")
    second_run = engine.ago(280)
    act(api, plan_at_stage_2, "promote")  # from paused: a new run, at stage 3
    report_on_time(production.id, HEALTHY, at=engine.real - 270)
    engine.ago(0)
    services.evaluate(plan_at_stage_2)
    begins = bucket_start(clock.moment(second_run))
    assert {since >= begins for _, _, since, *_ in stored(plan_at_stage_2)} == {True, False}  # both runs' rows

    deleted = tasks.prune_counts.apply().get()

    kept = stored(plan_at_stage_2)
    assert kept and all(since >= begins for _, _, since, *_ in kept)
    assert deleted["stagecounts"] > 0 and deleted["runningcounts"] > 0  # run 1's closed stage and its stage 2
    assert services.evaluate(plan_at_stage_2).outcomes[0]["treatment_n"] == 300  # the current run's only
