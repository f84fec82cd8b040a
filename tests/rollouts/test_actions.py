"""People's actions on a plan through the API: validation, start, pause, resume, promote, rollback."""

import threading
from decimal import Decimal

import pytest

from controlplane.audit.models import AuditEntry
from controlplane.rollouts import clock, services
from controlplane.rollouts.models import Decision, RolloutPlan
from tests.rollouts.helpers import ERROR_RULE, act, create_plan, served_split

pytestmark = pytest.mark.django_db

STAGES = [{"percent": 1, "min_dwell_s": 600}, {"percent": 5, "min_dwell_s": 600}, {"percent": 100, "min_dwell_s": 600}]


def test_a_bad_plan_gets_field_level_errors_and_nothing_is_saved(api, checkout_flag):
    body = {
        "project": "shop",
        "flag": "new-checkout",
        "environment": "production",
        "stages": [
            {"percent": 5, "min_dwell_s": 60},
            {"percent": 5, "min_dwell_s": 0},
            {"percent": 120, "min_dwell_s": 60},
        ],
        "rules": [
            {**ERROR_RULE, "metric": "happiness"},
            {**ERROR_RULE, "key": "p95", "metric": "latency_p", "threshold": 300, "comparison": "absolute_threshold"},
        ],
    }
    response = api.post("/api/v1/rollouts/", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert "must increase" in errors["stages.1.percent"][0]
    assert "at least 1" in errors["stages.1.min_dwell_s"][0]
    assert "at most 100" in errors["stages.2.percent"][0]
    assert "happiness" in errors["rules.0.metric"][0] or "happiness" in str(errors["rules.0.metric"])
    assert "percentile" in errors["rules.1.percentile"][0]
    assert RolloutPlan.objects.count() == 0


def test_a_plan_body_that_is_not_an_object_gets_400(api, checkout_flag):
    assert api.post("/api/v1/rollouts/", ["shop"], format="json").status_code == 400
    plan = create_plan(api, STAGES)
    assert api.put(f"/api/v1/rollouts/{plan['id']}/", ["shop"], format="json").status_code == 400


def test_numbers_a_plan_cannot_hold_get_400(api, checkout_flag):
    body = {"project": "shop", "flag": "new-checkout", "environment": "production"}
    stages = [{"percent": "NaN", "min_dwell_s": 60}, {"percent": 5, "min_dwell_s": 10**30}]
    response = api.post("/api/v1/rollouts/", {**body, "stages": stages}, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert "above 0 and at most 100" in errors["stages.0.percent"][0]
    assert "At most" in errors["stages.1.min_dwell_s"][0]
    assert RolloutPlan.objects.count() == 0


def test_a_rule_without_enough_samples_is_told_in_samples_and_its_window_in_seconds(api, checkout_flag):
    body = {"project": "shop", "flag": "new-checkout", "environment": "production", "stages": STAGES}
    rules = [{**ERROR_RULE, "window_s": 0, "min_samples": 0}]
    response = api.post("/api/v1/rollouts/", {**body, "rules": rules}, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert errors["rules.0.min_samples"][0] == "A whole number of samples, at least 1."
    assert errors["rules.0.window_s"][0] == "A whole number of seconds, at least 1."


def test_an_http_rule_with_a_json_path_that_cannot_be_read_gets_400(api, checkout_flag):
    rule = {
        "key": "apm",
        "metric": "error_rate",
        "comparison": "absolute_threshold",
        "threshold": 0.05,
        "source": "http",
        "source_url": "https://apm.example.com/rate",
        "source_json_path": "data..value",
    }
    body = {"project": "shop", "flag": "new-checkout", "environment": "production", "stages": STAGES, "rules": [rule]}
    response = api.post("/api/v1/rollouts/", body, format="json")
    assert response.status_code == 400
    assert "invalid JSON path" in response.json()["rules.0.source_json_path"][0]


def test_starting_turns_the_flag_on_with_the_first_stage_and_audits_it(api, sdk, checkout_flag):
    from controlplane.documents.services import rebuild

    plan = create_plan(api, STAGES)
    started = act(api, plan["id"], "start", reason="release 4.2")
    assert (started["status"], started["stage"], started["percent"]) == ("running", 1, 1)
    rebuild(checkout_flag.states.get(environment__key="production").environment_id)
    assert served_split(checkout_flag) == [{"variant": "on", "weight": 1000}, {"variant": "off", "weight": 99_000}]
    entry = AuditEntry.objects.get(action="rollout.start")
    assert entry.actor.startswith("token:ci") and entry.reason == "release 4.2"


def test_only_one_active_plan_per_flag_and_environment(api, checkout_flag):
    first = create_plan(api, STAGES)
    second = create_plan(api, STAGES)
    act(api, first["id"], "start")
    response = api.post(f"/api/v1/rollouts/{second['id']}/start/", {}, format="json")
    assert response.status_code == 409
    assert "already active" in response.json()["detail"]


def test_pause_promote_and_rollback_with_reason(api, checkout_flag):
    plan = create_plan(api, STAGES)
    act(api, plan["id"], "start")
    assert act(api, plan["id"], "pause", reason="checking dashboards")["status"] == "paused"
    promoted = act(api, plan["id"], "promote", reason="dashboards fine")
    assert (promoted["status"], promoted["stage"], promoted["percent"]) == ("running", 2, 5)
    assert api.post(f"/api/v1/rollouts/{plan['id']}/rollback/", {}, format="json").status_code == 400
    rolled_back = act(api, plan["id"], "rollback", reason="support tickets")
    assert (rolled_back["status"], rolled_back["percent"]) == ("rolled_back", 0)
    actions = list(Decision.objects.filter(plan_id=plan["id"]).order_by("at", "id").values_list("action", flat=True))
    assert actions == ["start", "pause", "advance", "rollback"]


def test_resume_after_rollback_works_twice_in_a_row(api, checkout_flag):
    plan = create_plan(api, STAGES)
    act(api, plan["id"], "start")
    for attempt in (1, 2):
        act(api, plan["id"], "rollback", reason=f"attempt {attempt} failed")
        resumed = act(api, plan["id"], "resume", from_stage=2)
        assert (resumed["status"], resumed["stage"], resumed["percent"]) == ("running", 2, 5)
    assert plan_runs(plan["id"]) == 3


def plan_runs(plan_id: int) -> int:
    return RolloutPlan.objects.get(pk=plan_id).runtime["run_number"]


def test_illegal_transitions_get_409(api, checkout_flag):
    plan = create_plan(api, STAGES)
    assert api.post(f"/api/v1/rollouts/{plan['id']}/pause/", {}, format="json").status_code == 409
    act(api, plan["id"], "start")
    response = api.post(f"/api/v1/rollouts/{plan['id']}/approve/", {}, format="json")
    assert response.status_code == 409
    assert "does not need approval" in response.json()["detail"]


def test_read_token_cannot_act_on_a_plan(api, read_token, checkout_flag):
    from rest_framework.test import APIClient

    plan = create_plan(api, STAGES)
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {read_token}")
    assert reader.get(f"/api/v1/rollouts/{plan['id']}/").status_code == 200
    assert reader.post(f"/api/v1/rollouts/{plan['id']}/start/", {}, format="json").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_ticks_never_advance_twice(api, checkout_flag, monkeypatch):
    stages = [{"percent": 1, "min_dwell_s": 1}, {"percent": 5, "min_dwell_s": 1}, {"percent": 100, "min_dwell_s": 1}]
    plan = create_plan(api, stages, rules=[])
    act(api, plan["id"], "start")
    later = clock.now() + 5
    monkeypatch.setattr(clock, "now", lambda: later)
    barrier = threading.Barrier(4)
    results = []

    def tick():
        barrier.wait()
        results.append(services.evaluate(plan["id"]))
        from django.db import connection

        connection.close()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    current = RolloutPlan.objects.get(pk=plan["id"])
    assert current.stage_index == 1
    assert Decision.objects.filter(plan_id=plan["id"], action="advance").count() == 1


def test_a_tick_never_undoes_a_kill_switch_used_while_it_ran(api, checkout_flag, monkeypatch):
    from controlplane.audit.services import SYSTEM
    from controlplane.flags import services as flag_services

    stages = [{"percent": 1, "min_dwell_s": 1}, {"percent": 5, "min_dwell_s": 1}]
    plan = create_plan(api, stages, rules=[])
    act(api, plan["id"], "start")
    state = checkout_flag.states.get(environment__key="production")
    later = clock.now() + 5
    monkeypatch.setattr(clock, "now", lambda: later)
    loaded = services.load_active([plan["id"]])[plan["id"]]  # the tick's batch read: the flag on
    flag_services.toggle_flag(state, SYSTEM, False, "incident")

    assert services.evaluate_batch([loaded]) == {plan["id"]: None}  # skipped: the flag is not as the batch read it
    current = RolloutPlan.objects.get(pk=plan["id"])
    assert (current.status, current.stage_index, current.percent) == ("running", 0, Decimal("1.000"))
    state.refresh_from_db()
    assert state.on is False
    assert state.default_serve["split"][0] == {"variant": "on", "weight": 1000}  # 1%, as before the tick

    paused = services.evaluate(plan["id"])  # the next tick sees the kill switch
    assert paused.action == "pause"
    current.refresh_from_db()
    assert (current.status, current.percent) == ("paused", Decimal("1.000"))
    state.refresh_from_db()
    assert state.on is False


def test_every_state_change_notifies_the_projects_webhooks(api, project, checkout_flag):
    from controlplane.audit.services import SYSTEM
    from controlplane.notifications.models import WebhookDelivery
    from controlplane.notifications.services import create_webhook

    create_webhook(project, SYSTEM, url="https://hooks.example.com/rollouts")
    plan = create_plan(api, STAGES)
    act(api, plan["id"], "start")
    act(api, plan["id"], "rollback", reason="error budget burnt")
    deliveries = list(WebhookDelivery.objects.order_by("id"))
    assert [d.event_type for d in deliveries] == ["rollout.started", "rollout.rolled_back"]
    rolled_back = deliveries[1].payload
    assert (rolled_back["flag"], rolled_back["environment"], rolled_back["status"]) == (
        "new-checkout",
        "production",
        "rolled_back",
    )
    assert rolled_back["percent"] == 0 and "error budget burnt" in rolled_back["reason"]
