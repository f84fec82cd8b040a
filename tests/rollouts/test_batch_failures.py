"""A plan whose part of its batch fails loses only its own tick: the batch's other plans are still
evaluated and written, and every plan's claim is released (the next tick tries it again)."""

import pytest
from django.db.models import Sum

from controlplane.audit.services import SYSTEM
from controlplane.flags import services as flag_services
from controlplane.flags.models import FlagState
from controlplane.flags.services import create_flag
from controlplane.rollouts import measurements, queued, services, tasks
from controlplane.rollouts.models import Decision, RolloutPlan
from tests.observability.helpers import scrape, value
from tests.rollouts.helpers import act, create_plan

pytestmark = pytest.mark.django_db(transaction=True)

STAGES = [{"percent": 1, "min_dwell_s": 600}, {"percent": 5, "min_dwell_s": 600}]


@pytest.fixture
def dwelling(api, project):
    """Three started plans of their own flags with an error-rate rule, each evaluated once (a hold)."""
    ids = []
    for number in range(3):
        create_flag(project, SYSTEM, key=f"failing-{number}")
        plan = create_plan(api, STAGES, flag=f"failing-{number}")
        act(api, plan["id"], "start")
        assert services.evaluate(plan["id"]).action == "hold"
        ids.append(plan["id"])
    return ids


def holds_seen(plan_id: int) -> int:
    return Decision.objects.filter(plan_id=plan_id, action="hold").aggregate(seen=Sum("repeats"))["seen"] or 0


def failing_for(monkeypatch, broken: int, method: str) -> None:
    """``TickMeasurements.<method>`` raises for the plan ``broken`` (the database stays real)."""
    real = getattr(measurements.TickMeasurements, method)

    def fails(self, *args):
        if self.plan.pk == broken:
            raise RuntimeError(f"{method} of plan {broken} failed")
        return real(self, *args)

    monkeypatch.setattr(measurements.TickMeasurements, method, fails)


def test_a_plan_whose_hold_cannot_be_written_loses_only_its_own_hold(client, dwelling, monkeypatch, caplog):
    broken = dwelling[1]
    failing_for(monkeypatch, broken, "rows")
    seen = {plan_id: holds_seen(plan_id) for plan_id in dwelling}
    evaluated = dict(RolloutPlan.objects.filter(pk__in=dwelling).values_list("id", "evaluated_at"))
    before = scrape(client)
    assert queued.claim(dwelling, "tick") == dwelling

    tasks.evaluate_plans(dwelling, "tick")

    for plan_id in (dwelling[0], dwelling[2]):
        plan = RolloutPlan.objects.get(pk=plan_id)
        assert plan.evaluated_at > evaluated[plan_id]
        assert plan.waiting_on
        assert holds_seen(plan_id) == seen[plan_id] + 1  # folded into its last hold
    assert RolloutPlan.objects.get(pk=broken).evaluated_at == evaluated[broken]
    assert holds_seen(broken) == seen[broken]
    assert f"The hold of rollout plan {broken} failed" in caplog.text
    assert (
        value(scrape(client), "flagplane_rollout_ticks_total", outcome="failed")
        - value(before, "flagplane_rollout_ticks_total", outcome="failed")
        == 1
    )
    assert queued.claim(dwelling, "next") == dwelling  # every claim released


def counting_fails_for(monkeypatch, broken: int) -> None:
    """The query counting SDK buckets fails whenever it counts the plan ``broken``'s flag."""
    flag_key = RolloutPlan.objects.get(pk=broken).flag.key
    real = measurements.arm_counts_many

    def fails(windows):
        if any(window.flag_key == flag_key for window in windows):
            raise RuntimeError(f"counting {flag_key} failed")
        return real(windows)

    monkeypatch.setattr(measurements, "arm_counts_many", fails)


@pytest.mark.parametrize("failing", ["the batch's counting query", "adding the plan's counts"])
def test_a_plan_whose_sdk_counts_fail_is_left_out_of_its_batch_and_released(
    client, dwelling, monkeypatch, caplog, failing
):
    broken, held, killed = dwelling
    if failing == "adding the plan's counts":
        failing_for(monkeypatch, broken, "_add")
    else:
        counting_fails_for(monkeypatch, broken)
    killed_flag = RolloutPlan.objects.get(pk=killed)
    state = FlagState.objects.get(flag_id=killed_flag.flag_id, environment_id=killed_flag.environment_id)
    flag_services.toggle_flag(state, SYSTEM, False, "incident")
    seen = {plan_id: holds_seen(plan_id) for plan_id in dwelling}
    evaluated = dict(RolloutPlan.objects.filter(pk__in=dwelling).values_list("id", "evaluated_at"))
    before = scrape(client)
    assert queued.claim(dwelling, "tick") == dwelling

    tasks.evaluate_plans(dwelling, "tick")

    assert holds_seen(held) == seen[held] + 1
    assert RolloutPlan.objects.get(pk=killed).status == "paused"  # the batch's transitions run too
    assert RolloutPlan.objects.get(pk=broken).evaluated_at == evaluated[broken]
    assert holds_seen(broken) == seen[broken]
    assert f"The SDK counts of rollout plan {broken} failed" in caplog.text
    failed = value(scrape(client), "flagplane_rollout_ticks_total", outcome="failed")
    assert failed - value(before, "flagplane_rollout_ticks_total", outcome="failed") == 1
    assert queued.claim(dwelling, "next") == dwelling  # every claim released
