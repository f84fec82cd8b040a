"""The rollout engine end to end: beat's tick task, a real Celery worker, PostgreSQL, Redis.

The test plays Celery beat (it queues ``rollouts.tick`` on a short schedule) and the SDKs (it
posts health signals to ``/api/v1/metrics``); the worker does the rest.
"""

import pytest

from controlplane.rollouts.models import Decision
from controlplane.rollouts.tasks import tick
from tests.helpers import wait_for
from tests.rollouts.helpers import ERROR_RULE, act, create_plan, plan_status, report, served_split

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

HEALTHY = {"on": (300, 3), "off": (3000, 30)}
BROKEN = {"on": (600, 180), "off": (6000, 60)}


def beat():
    tick.delay()


def test_plan_advances_through_its_stages_and_completes(celery_worker, fine_metrics, api, sdk, checkout_flag):
    stages = [{"percent": 10, "min_dwell_s": 1}, {"percent": 50, "min_dwell_s": 1}, {"percent": 100, "min_dwell_s": 1}]
    plan = create_plan(api, stages)
    act(api, plan["id"], "start")
    wait_for(lambda: served_split(checkout_flag)[0] == {"variant": "on", "weight": 10_000})

    def healthy_traffic_and_beat():
        report(sdk, HEALTHY)
        beat()

    wait_for(
        lambda: plan_status(plan["id"]).status == "completed",
        timeout=120,
        interval=0.4,
        on_each=healthy_traffic_and_beat,
    )
    actions = list(Decision.objects.filter(plan_id=plan["id"]).order_by("at", "id").values_list("action", flat=True))
    assert actions[0] == "start"
    assert actions.count("advance") == 2
    assert actions[-1] == "complete"
    wait_for(lambda: served_split(checkout_flag)[0] == {"variant": "on", "weight": 100_000})


def test_breached_rule_rolls_back_on_the_next_tick_and_everyone_gets_control(
    celery_worker, fine_metrics, api, sdk, checkout_flag
):
    plan = create_plan(api, [{"percent": 5, "min_dwell_s": 600}, {"percent": 100, "min_dwell_s": 600}])
    act(api, plan["id"], "start")
    report(sdk, BROKEN)
    beat()
    rolled_back = wait_for(lambda: (p := plan_status(plan["id"])).status == "rolled_back" and p)
    assert rolled_back.percent == 0
    decision = Decision.objects.get(plan_id=plan["id"], action="rollback")
    assert "error rate" in decision.reason
    outcome = decision.outcomes[0]
    assert outcome["verdict"] == "fail"
    assert outcome["treatment_n"] == 600 and outcome["control_n"] == 6000
    assert outcome["lower"] > 0.02
    wait_for(lambda: served_split(checkout_flag)[0] == {"variant": "on", "weight": 0})


def test_approval_gate_holds_until_a_person_approves(celery_worker, fine_metrics, api, sdk, checkout_flag):
    stages = [{"percent": 10, "min_dwell_s": 1, "needs_approval": True}, {"percent": 100, "min_dwell_s": 600}]
    plan = create_plan(api, stages)
    act(api, plan["id"], "start")

    def traffic():
        report(sdk, HEALTHY)
        beat()

    wait_for(lambda: plan_status(plan["id"]).waiting_on == "approval", on_each=traffic, interval=0.4)
    for _ in range(3):
        traffic()
    assert plan_status(plan["id"]).stage_index == 0
    act(api, plan["id"], "approve", stage=1)
    wait_for(lambda: plan_status(plan["id"]).stage_index == 1, on_each=traffic, interval=0.4)


def test_regression_while_waiting_for_approval_still_rolls_back(celery_worker, fine_metrics, api, sdk, checkout_flag):
    stages = [{"percent": 10, "min_dwell_s": 1, "needs_approval": True}, {"percent": 100, "min_dwell_s": 600}]
    plan = create_plan(api, stages)
    act(api, plan["id"], "start")
    wait_for(
        lambda: plan_status(plan["id"]).waiting_on == "approval",
        interval=0.4,
        on_each=lambda: (report(sdk, HEALTHY), beat()),
    )
    report(sdk, {"on": (3000, 900), "off": (3000, 30)})
    beat()
    wait_for(lambda: plan_status(plan["id"]).status == "rolled_back")


def test_stage_starved_of_data_pauses_for_not_enough_traffic(celery_worker, fine_metrics, api, sdk, checkout_flag):
    plan = create_plan(
        api, [{"percent": 1, "min_dwell_s": 1}, {"percent": 100, "min_dwell_s": 1}], starvation_timeout_s=2
    )
    act(api, plan["id"], "start")
    paused = wait_for(lambda: (p := plan_status(plan["id"])).status == "paused" and p, on_each=beat, interval=0.5)
    assert "not enough traffic" in paused.status_reason
    assert paused.percent == 1  # a pause holds the share; it is not a rollback


def test_rule_without_its_minimum_samples_never_advances(celery_worker, fine_metrics, api, sdk, checkout_flag):
    rule = {**ERROR_RULE, "min_samples": 10_000}
    plan = create_plan(api, [{"percent": 10, "min_dwell_s": 1}, {"percent": 100, "min_dwell_s": 1}], rules=[rule])
    act(api, plan["id"], "start")
    wait_for(
        lambda: plan_status(plan["id"]).waiting_on == "min_samples",
        interval=0.4,
        on_each=lambda: (report(sdk, HEALTHY), beat()),
    )
    for _ in range(5):
        report(sdk, HEALTHY)
        beat()
    current = plan_status(plan["id"])
    assert (current.status, current.stage_index) == ("running", 0)
