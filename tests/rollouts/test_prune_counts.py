"""rollouts.prune_counts deletes the stored counts no tick reads again: those of finished plans and
of runs before a plan's current one (a resume begins a new run)."""

import pytest

from controlplane.metrics.services import bucket_start
from controlplane.rollouts import clock, services, tasks
from controlplane.rollouts.models import HealthRule, RunningCounts, SourceCounts, StageCounts
from tests.rollouts.helpers import HEALTHY, EngineClock, act, plan_evaluated_at_stage_2, report_on_time

pytestmark = pytest.mark.django_db


@pytest.fixture
def resumed_plan(api, production, checkout_flag, engine: EngineClock) -> tuple[int, float]:
    """A plan whose first run stored a closed stage and its open one, rolled back and resumed
    (a second run, with running counts of its own); and when the second run began."""
    plan_id = plan_evaluated_at_stage_2(api, production.id, engine)
    engine.ago(290)
    act(api, plan_id, "rollback", reason="test")
    second_run = engine.ago(200)
    act(api, plan_id, "resume", from_stage=2)
    report_on_time(production.id, HEALTHY, at=engine.real - 180)
    engine.ago(10)
    services.evaluate(plan_id)
    rule = HealthRule.objects.get(plan_id=plan_id)
    for since in (engine.real - 900, second_run):  # a Prometheus rule's, as it would have stored them
        moment = bucket_start(clock.moment(since))
        SourceCounts.objects.create(rule=rule, variant="on", since=moment, until=moment, totals={})
    return plan_id, second_run


def stored(plan_id: int) -> list:
    return [
        *StageCounts.objects.filter(plan_id=plan_id),
        *RunningCounts.objects.filter(plan_id=plan_id),
        *SourceCounts.objects.filter(rule__plan_id=plan_id),
    ]


def test_the_counts_of_runs_before_the_current_one_are_deleted(resumed_plan):
    plan_id, second_run = resumed_plan
    first_run = [row for row in stored(plan_id) if row.since < bucket_start(clock.moment(second_run))]
    assert {type(row) for row in first_run} == {StageCounts, RunningCounts, SourceCounts}

    deleted = tasks.prune_counts.apply().get()

    assert sum(deleted.values()) == len(first_run)
    kept = stored(plan_id)
    assert {type(row) for row in kept} == {RunningCounts, SourceCounts}
    assert all(row.since >= bucket_start(clock.moment(second_run)) for row in kept)
    assert services.evaluate(plan_id).outcomes[0]["treatment_n"] == 300  # the second run's, as before


def test_the_counts_of_a_finished_plan_are_deleted(resumed_plan, api):
    plan_id, _ = resumed_plan
    act(api, plan_id, "cancel")
    tasks.prune_counts.apply().get()
    assert stored(plan_id) == []


def test_the_counts_of_active_plans_runs_are_kept(resumed_plan):
    plan_id, _ = resumed_plan
    tasks.prune_counts.apply().get()
    kept = len(stored(plan_id))
    tasks.prune_counts.apply().get()
    assert len(stored(plan_id)) == kept > 0


def test_pruning_is_scheduled_by_beat_every_hour(settings):
    schedules = [e["schedule"] for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "rollouts.prune_counts"]
    assert schedules == [3600.0]
