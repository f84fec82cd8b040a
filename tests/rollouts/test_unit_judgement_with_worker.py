"""Rollouts judged per unit, end to end: SDK batches with unit groups, a real Celery worker.

The test plays Celery beat and the SDKs (it posts wire-format-2 batches); the worker decides.
"""

import pytest

from controlplane.rollouts.models import Decision
from controlplane.rollouts.tasks import tick
from tests.helpers import wait_for
from tests.rollouts.helpers import ERROR_RULE, act, create_plan, everywhere, plan_status, report, report_units

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Three units of the treatment fail every request: per request, a glaring regression.
FEW_BROKEN_UNITS = {5: (100, 100), 17: (100, 100), 40: (100, 100)}


def beat():
    tick.delay()


def latest_outcome(plan_id: int) -> dict | None:
    decision = Decision.objects.filter(plan_id=plan_id).exclude(outcomes=[]).order_by("-last_seen_at", "-id").first()
    return decision.outcomes[0] if decision else None


def test_a_treatment_failing_for_a_few_units_holds_then_passes_where_per_request_it_would_roll_back(
    celery_worker, fine_metrics, api, sdk, checkout_flag
):
    plan = create_plan(api, [{"percent": 10, "min_dwell_s": 1}, {"percent": 100, "min_dwell_s": 1}])
    act(api, plan["id"], "start")

    # The traffic is posted once per phase, so what the engine judges does not depend on how many
    # beats the worker takes to act: once it has judged, nothing new arrives to tip the estimate.
    report_units(sdk, {"on": FEW_BROKEN_UNITS, "off": everywhere(200, 2)})
    wait_for(lambda: plan_status(plan["id"]).waiting_on == "min_samples", on_each=beat, interval=0.4)
    # Too few units to say anything: the rule waits, the plan holds at stage 1.
    outcome = latest_outcome(plan["id"])
    assert outcome["treatment_n"] >= 300 and outcome["treatment_events"] == outcome["treatment_n"]
    assert outcome["verdict"] == "insufficient_data" and "too few units" in outcome["summary"]
    assert outcome["basis"] == "units" and outcome["treatment_groups"] < 5
    current = plan_status(plan["id"])
    assert (current.status, current.stage_index) == ("running", 0)

    # Healthy traffic from every unit group arrives: the broken units are three groups of 64. It is
    # dated a second back (the first stage is older than that: its dwell time has passed), so its
    # one-second bucket closes before the advance and counts for the first stage, not the second.
    report_units(sdk, {"on": everywhere(50, 0), "off": everywhere(500, 5)}, ago_s=1.0)
    wait_for(lambda: plan_status(plan["id"]).status == "completed", timeout=120, interval=0.4, on_each=beat)
    advance = Decision.objects.get(plan_id=plan["id"], action="advance")
    judged = advance.outcomes[0]
    assert judged["verdict"] in ("inconclusive", "pass") and judged["basis"] == "units"
    assert judged["statistic"] > ERROR_RULE["threshold"]  # the estimate is beyond the tolerance...
    # ...and per request it is more than five standard errors from zero: the request-level test
    # would have rolled the treatment back. Per unit the spread between groups says otherwise.
    assert judged["statistic"] / judged["request_std_error"] > 5
    assert judged["std_error"] > 3 * judged["request_std_error"]
    assert "per unit: standard error" in judged["summary"]
    assert not Decision.objects.filter(plan_id=plan["id"], action="rollback").exists()


def test_a_treatment_that_loses_half_its_signals_pauses_for_a_sample_ratio_mismatch(
    celery_worker, fine_metrics, settings, api, sdk, checkout_flag
):
    settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S = 0
    plan = create_plan(api, [{"percent": 10, "min_dwell_s": 600}, {"percent": 100, "min_dwell_s": 600}])
    act(api, plan["id"], "start")

    def lossy_and_beat():
        # The split serves 10% to the treatment, but only 5% of the signals come back from it.
        report_units(sdk, {"on": everywhere(50, 0), "off": everywhere(950, 9)})
        beat()

    paused = wait_for(
        lambda: (p := plan_status(plan["id"])).status == "paused" and p, on_each=lossy_and_beat, interval=0.4
    )
    assert paused.percent == 10  # a pause holds the share; it is not a rollback
    assert "sample ratio mismatch" in paused.status_reason
    assert "where the split serves" in paused.status_reason and "effective unit groups" in paused.status_reason
    decision = Decision.objects.get(plan_id=plan["id"], action="pause")
    assert decision.reason == paused.status_reason


def test_batches_of_old_sdks_are_still_judged_per_request_conservatively_and_say_so(
    celery_worker, fine_metrics, api, sdk, checkout_flag
):
    plan = create_plan(api, [{"percent": 10, "min_dwell_s": 600}, {"percent": 100, "min_dwell_s": 600}])
    act(api, plan["id"], "start")

    def old_sdk_and_beat():
        report(sdk, {"on": (300, 3), "off": (3000, 30)})  # wire format 1: no unit groups
        beat()

    outcome = wait_for(
        lambda: (o := latest_outcome(plan["id"])) is not None and o["verdict"] != "insufficient_data" and o,
        on_each=old_sdk_and_beat,
        interval=0.4,
    )
    assert outcome["basis"] == "requests"
    assert "judged per request, conservatively" in outcome["summary"]
    assert "metrics wire format 1" in outcome["summary"]
    assert outcome["std_error"] >= 2 * outcome["request_std_error"]  # variance x4 (and floored)
    report(sdk, {"on": (600, 180), "off": (6000, 60)})  # 30% vs 1%: still rolled back
    beat()
    rolled_back = wait_for(lambda: (p := plan_status(plan["id"])).status == "rolled_back" and p, on_each=beat)
    assert "judged per request, conservatively" in rolled_back.status_reason
