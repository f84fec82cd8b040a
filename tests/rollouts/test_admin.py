"""The rollout admin: plans edited with their stages and rules, actions through buttons, the plan page."""

from __future__ import annotations

import pytest

from controlplane.audit.models import AuditEntry
from controlplane.rollouts import services
from controlplane.rollouts.models import Decision, RolloutPlan
from tests.rollouts.helpers import ERROR_RULE, act, create_plan, report

pytestmark = pytest.mark.django_db

STAGES = [{"percent": 1, "min_dwell_s": 600}, {"percent": 5, "min_dwell_s": 600}, {"percent": 100, "min_dwell_s": 600}]
ADD_URL = "/admin/rollouts/rolloutplan/add/"


def plan_url(plan_id: int) -> str:
    return f"/admin/rollouts/rolloutplan/{plan_id}/change/"


def act_url(plan_id: int, action: str) -> str:
    return f"/admin/rollouts/rolloutplan/{plan_id}/act/{action}/"


def formset(prefix: str, rows: list[dict], initial: int = 0, extra: int = 1) -> dict:
    """POST data of a formset with the given rows and ``extra`` untouched empty rows."""
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows) + extra),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{name}": value for name, value in row.items()})
    for index in range(len(rows), len(rows) + extra):  # what the browser sends for an empty rule row
        if prefix == "rules":
            data.update({f"{prefix}-{index}-{name}": value for name, value in EMPTY_RULE.items()})
    return data


EMPTY_RULE = {"metric": "error_rate", "comparison": "vs_control_absolute", "window_s": "300", "min_samples": "500",
              "severity": "rollback", "source": "sdk"}  # fmt: skip


def add_form(flag, environment, stages, rules=(), **plan) -> dict:
    data = {
        "flag": str(flag.pk),
        "environment": str(environment.pk),
        "name": "",
        "description": "",
        "treatment_variant": "",
        "control_variant": "",
        "advance_mode": "time",
        "max_hold_s": "14400",
        "starvation_timeout_s": "600",
        "alpha": "0.05",
        "reason": "launch of the new checkout",
        **plan,
    }
    data.update(formset("stages", stages, extra=2))
    data.update(formset("rules", list(rules)))
    return data


@pytest.fixture
def signed_in(client, admin_user):
    client.force_login(admin_user)
    return client


def test_creating_a_plan_with_stages_and_rules_through_the_form(signed_in, checkout_flag, production):
    stages = [
        {"percent": "1", "min_dwell_s": "600"},
        {"percent": "10", "min_dwell_s": "1800", "needs_approval": "on"},
        {"percent": "100", "min_dwell_s": "600", "external_check_url": "https://ci.example.com/ok"},
    ]
    rules = [
        {**EMPTY_RULE, "key": "errors", "name": "Checkout errors", "threshold": "0.01", "min_samples": "200"},
        {**EMPTY_RULE, "key": "p95", "metric": "latency_p", "comparison": "absolute_threshold", "threshold": "400",
         "percentile": "0.95", "severity": "pause"},
    ]  # fmt: skip
    assert signed_in.get(ADD_URL).status_code == 200

    response = signed_in.post(ADD_URL, add_form(checkout_flag, production, stages, rules))

    plan = RolloutPlan.objects.get()
    assert response.status_code == 302 and response["Location"] == plan_url(plan.pk)
    assert (plan.flag, plan.environment, plan.status) == (checkout_flag, production, "draft")
    assert (plan.treatment_variant, plan.control_variant, plan.starvation_timeout_s) == ("on", "off", 600)
    assert [(float(s.percent), s.min_dwell_s, s.needs_approval) for s in plan.stages.all()] == [
        (1.0, 600, False), (10.0, 1800, True), (100.0, 600, False)
    ]  # fmt: skip
    assert plan.stages.all()[2].external_check_url == "https://ci.example.com/ok"
    assert [(r.key, r.metric, r.threshold, r.percentile, r.severity) for r in plan.rules.order_by("id")] == [
        ("errors", "error_rate", 0.01, None, "rollback"), ("p95", "latency_p", 400.0, 0.95, "pause")
    ]  # fmt: skip
    entry = AuditEntry.objects.get(action="rollout.create")
    assert (entry.actor, entry.actor_user.username, entry.reason) == ("alice", "alice", "launch of the new checkout")


def test_non_increasing_stages_show_the_error_next_to_the_stage_and_save_nothing(signed_in, checkout_flag, production):
    blank = {"percent": "", "min_dwell_s": ""}  # skipped: the body's stage 1 is the page's row 3
    stages = [{"percent": "5", "min_dwell_s": "600"}, blank, {"percent": "5", "min_dwell_s": "600"}]
    rules = [{**EMPTY_RULE, "key": "p95", "metric": "latency_p", "threshold": "50"}]

    response = signed_in.post(ADD_URL, add_form(checkout_flag, production, stages, rules))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Nothing was saved" in page
    assert "Stages must increase: this one is not above 5%." in page
    rows = response.context["editor"].stages.forms
    assert rows[2].errors["percent"] == ["Stages must increase: this one is not above 5%."]
    assert not rows[0].errors and not rows[1].errors
    assert "<strong>Stage 3, Percent:</strong>" in page
    rule_one = response.context["editor"].rules.forms[0]
    assert "percentile" in rule_one.errors["percentile"][0]
    assert RolloutPlan.objects.count() == 0
    assert not AuditEntry.objects.filter(action="rollout.create").exists()


def test_add_another_rule_makes_room_without_saving(signed_in, checkout_flag, production):
    data = add_form(checkout_flag, production, [{"percent": "1", "min_dwell_s": "60"}], [])
    response = signed_in.post(ADD_URL, {**data, "_more_rules": "Add another rule"})
    assert response.status_code == 200
    assert len(response.context["editor"].rules.forms) == 2
    assert response.context["editor"].stages.forms[0]["percent"].value() == "1"
    assert RolloutPlan.objects.count() == 0


def test_editing_a_draft_replaces_its_stages_and_deleted_rows_go(signed_in, api, checkout_flag):
    plan_id = create_plan(api, STAGES)["id"]
    page = signed_in.get(plan_url(plan_id))
    assert page.status_code == 200 and 'id="plan-form"' in page.content.decode()
    stages = [{"percent": "1", "min_dwell_s": "60"}, {"percent": "5", "min_dwell_s": "600", "DELETE": "on"},
              {"percent": "100", "min_dwell_s": "600"}]  # fmt: skip
    rules = [{**EMPTY_RULE, "key": "errors", "threshold": "0.02", "min_samples": "100"}]
    data = {
        "name": "checkout v2", "description": "", "treatment_variant": "on", "control_variant": "off",
        "advance_mode": "evidence", "max_hold_s": "3600", "starvation_timeout_s": "600", "alpha": "0.05",
        "reason": "shorter",
        **formset("stages", stages, initial=3, extra=0), **formset("rules", rules, initial=1),
    }  # fmt: skip

    response = signed_in.post(plan_url(plan_id), data)

    assert response.status_code == 302
    plan = RolloutPlan.objects.get(pk=plan_id)
    assert (plan.name, plan.advance_mode, plan.max_hold_s) == ("checkout v2", "evidence", 3600)
    assert [(float(s.percent), s.min_dwell_s) for s in plan.stages.all()] == [(1.0, 60), (100.0, 600)]
    assert AuditEntry.objects.get(action="rollout.update").actor == "alice"


def test_a_started_plan_is_read_only(signed_in, api, checkout_flag):
    plan_id = create_plan(api, STAGES)["id"]
    act(api, plan_id, "start")
    page = signed_in.get(plan_url(plan_id)).content.decode()
    assert 'id="plan-form"' not in page and "read-only once started" in page
    response = signed_in.post(plan_url(plan_id), {"name": "sneaky"}, follow=True)
    assert "Only a draft plan can be edited" in response.content.decode()
    assert RolloutPlan.objects.get(pk=plan_id).name == ""


def test_every_action_button_changes_the_status_and_is_audited_with_the_user(signed_in, api, checkout_flag):
    stages = [{**STAGES[0], "needs_approval": True}, STAGES[1], STAGES[2]]
    plan_id = create_plan(api, stages)["id"]

    def press(action: str, **data) -> RolloutPlan:
        response = signed_in.post(act_url(plan_id, action), data, follow=True)
        assert response.status_code == 200
        assert not [m for m in response.context["messages"] if m.level_tag == "error"], action
        return RolloutPlan.objects.get(pk=plan_id)

    assert press("start", reason="go").status == "running"
    assert press("approve", stage="1", reason="looks fine").runtime["approved_stage_index"] == 0
    assert press("pause", reason="lunch").status == "paused"
    resumed = press("resume", from_stage="2", reason="back")
    assert (resumed.status, resumed.stage_index, str(resumed.percent)) == ("running", 1, "5.000")
    promoted = press("promote", reason="all green")
    assert (promoted.stage_index, str(promoted.percent)) == (2, "100.000")
    assert press("rollback", reason="tickets", confirm="yes").status == "rolled_back"
    assert press("cancel", reason="abandoned", confirm="yes").status == "cancelled"

    actions = ["start", "approve", "pause", "resume", "advance", "rollback", "cancel"]
    entries = AuditEntry.objects.filter(action__in=[f"rollout.{a}" for a in actions]).order_by("at", "id")
    assert [entry.action for entry in entries] == [f"rollout.{a}" for a in actions]
    assert {(entry.actor, entry.actor_user.username) for entry in entries} == {("alice", "alice")}
    assert [e.reason for e in entries] == ["go", "looks fine", "lunch", "back", "all green", "tickets", "abandoned"]


def test_rollback_asks_for_confirmation_and_a_reason(signed_in, api, checkout_flag):
    plan_id = create_plan(api, STAGES)["id"]
    act(api, plan_id, "start")

    confirmation = signed_in.post(act_url(plan_id, "rollback"), {"reason": ""})
    assert confirmation.status_code == 200 and "Yes, roll back" in confirmation.content.decode()
    assert RolloutPlan.objects.get(pk=plan_id).status == "running"

    refused = signed_in.post(act_url(plan_id, "rollback"), {"reason": "  ", "confirm": "yes"})
    assert refused.status_code == 200
    assert "Say why" in refused.content.decode()
    assert RolloutPlan.objects.get(pk=plan_id).status == "running"
    assert not AuditEntry.objects.filter(action="rollout.rollback").exists()


def test_a_refused_transition_is_an_error_message(signed_in, api, checkout_flag):
    plan_id = create_plan(api, STAGES)["id"]
    response = signed_in.post(act_url(plan_id, "pause"), {"reason": "x"}, follow=True)
    errors = [str(m) for m in response.context["messages"] if m.level_tag == "error"]
    assert len(errors) == 1 and errors[0].startswith("Pause refused:")
    assert RolloutPlan.objects.get(pk=plan_id).status == "draft"


def test_the_plan_page_shows_state_outcomes_decision_log_and_a_chart(signed_in, api, sdk, checkout_flag):
    plan_id = create_plan(api, STAGES, rules=[ERROR_RULE, {**ERROR_RULE, "key": "slow", "metric": "latency_p",
                                                           "percentile": 0.95, "threshold": 50}])["id"]  # fmt: skip
    act(api, plan_id, "start", reason="release 4.2")
    report(sdk, {"on": (300, 3), "off": (3000, 30)})
    services.evaluate(plan_id)
    services.evaluate(plan_id)  # an identical hold: folded into the previous entry

    response = signed_in.get(plan_url(plan_id))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-refresh="10"' in page  # running: the page refreshes itself
    assert "Running" in page and 'id="plan-percent">1%<' in page
    hold = Decision.objects.filter(plan_id=plan_id, action="hold").get()
    assert hold.repeats == 2 and "\u00d72" in page
    assert "Decision log" in page
    assert "alice" in page  # the start decision's actor
    assert "<svg" in page and "Treatment share" in page and "p95 latency" in page
    outcomes = response.context["outcomes"]
    assert [row["rule_id"] for row in outcomes] == ["errors", "slow"]
    assert outcomes[0]["treatment"] == "3 / 300" and outcomes[0]["treatment_value"] == "1.00%"
    assert 'class="fp-outcome-' in page


def test_the_changelist_filters_and_searches(signed_in, api, checkout_flag, layout_flag):
    running = create_plan(api, STAGES)["id"]
    act(api, running, "start")
    create_plan(api, STAGES, flag="checkout-layout", treatment_variant="compact", control_variant="control")

    page = signed_in.get("/admin/rollouts/rolloutplan/").content.decode()
    assert "new-checkout" in page and "checkout-layout" in page and "fp-badge" in page
    only_running = signed_in.get("/admin/rollouts/rolloutplan/?status__exact=running").content.decode()
    assert "new-checkout" in only_running and "checkout-layout" not in only_running
    found = signed_in.get("/admin/rollouts/rolloutplan/?q=layout").content.decode()
    assert "checkout-layout" in found and ">new-checkout</strong>" not in found


def test_decisions_are_never_editable_or_deletable(signed_in, api, checkout_flag):
    plan_id = create_plan(api, STAGES)["id"]
    act(api, plan_id, "start")
    decision = Decision.objects.get(plan_id=plan_id)
    assert signed_in.get("/admin/rollouts/decision/").status_code == 200
    assert signed_in.get("/admin/rollouts/decision/add/").status_code == 403
    assert signed_in.post(f"/admin/rollouts/decision/{decision.pk}/change/", {"reason": "x"}).status_code == 403
    assert signed_in.post(f"/admin/rollouts/decision/{decision.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Decision.objects.get(pk=decision.pk).reason != "x"


def test_only_a_draft_can_be_deleted_and_only_through_the_service(signed_in, api, checkout_flag):
    draft = create_plan(api, STAGES)["id"]
    started = create_plan(api, STAGES)["id"]
    act(api, started, "start")
    assert signed_in.post(f"/admin/rollouts/rolloutplan/{started}/delete/", {"post": "yes"}).status_code == 403
    signed_in.post(f"/admin/rollouts/rolloutplan/{draft}/delete/", {"post": "yes"})
    assert not RolloutPlan.objects.filter(pk=draft).exists()
    assert AuditEntry.objects.get(action="rollout.delete").actor == "alice"


def test_staff_only(client, api, checkout_flag):
    from django.contrib.auth import get_user_model

    plan_id = create_plan(api, STAGES)["id"]
    client.force_login(get_user_model().objects.create_user("mallory", password="x"))
    response = client.post(act_url(plan_id, "start"), {"reason": "x"})
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert RolloutPlan.objects.get(pk=plan_id).status == "draft"
