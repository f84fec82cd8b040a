"""Starting a plan on a flag that already serves the treatment to everyone is refused; a partial share is named."""

from __future__ import annotations

from controlplane.audit.services import SYSTEM
from controlplane.flags.models import FlagState
from controlplane.flags.services import update_flag_state
from controlplane.rollouts.models import RolloutPlan

STATE = "/api/v1/projects/shop/flags/new-checkout/environments/production/"


def draft(api) -> dict:
    body = {
        "project": "shop",
        "flag": "new-checkout",
        "environment": "production",
        "stages": [{"percent": 5, "min_dwell_s": 600}, {"percent": 100, "min_dwell_s": 600}],
        "rules": [],
    }
    response = api.post("/api/v1/rollouts/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_a_flag_already_on_for_everyone_is_not_dropped_to_the_first_stage(api, checkout_flag, production):
    turned_on = api.post(STATE + "toggle", {"on": True, "reason": "launched"}, format="json").json()
    assert turned_on["default_serve"] == {"variant": "on"}
    plan = draft(api)

    response = api.post(f"/api/v1/rollouts/{plan['id']}/start/", {"reason": "guard it"}, format="json")

    assert response.status_code == 409
    assert response.json()["detail"] == (
        "new-checkout already serves on to everyone in production: starting this plan would drop it to 5% "
        "(stage 1). Nothing is left to roll out; to roll it out again, serve off by default (or turn the flag "
        "off) first."
    )
    assert RolloutPlan.objects.get(pk=plan["id"]).status == "draft"
    assert api.get(STATE).json()["default_serve"] == {"variant": "on"}


def test_a_partial_share_is_named_in_the_start_decision(api, checkout_flag, production):
    split = {"split": [{"variant": "on", "weight": 10_000}, {"variant": "off", "weight": 90_000}]}
    update_flag_state(
        FlagState.objects.get(flag=checkout_flag, environment=production), SYSTEM, {"on": True, "default_serve": split}
    )
    plan = draft(api)

    started = api.post(f"/api/v1/rollouts/{plan['id']}/start/", {"reason": "guard it"}, format="json")

    assert started.status_code == 200, started.json()
    decision = api.get(f"/api/v1/rollouts/{plan['id']}/decisions/").json()["results"][0]
    assert decision["reason"].startswith("Started by token:ci")
    assert "at stage 1 (5%). The treatment had 10% before." in decision["reason"]
    assert api.get(STATE).json()["default_serve"]["split"][0] == {"variant": "on", "weight": 5_000}


def test_a_new_flag_that_is_off_starts_at_the_first_stage(api, checkout_flag):
    plan = draft(api)
    started = api.post(f"/api/v1/rollouts/{plan['id']}/start/", {"reason": "launch"}, format="json")
    assert started.status_code == 200, started.json()
    state = api.get(STATE).json()
    assert state["on"] is True
    assert state["default_serve"]["split"][0] == {"variant": "on", "weight": 5_000}
