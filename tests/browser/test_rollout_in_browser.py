"""In a real browser: define a rollout plan with the admin's form, start it, approve its gated stage,
and read the plan page: state, timeline chart and decision log."""

from __future__ import annotations

import pytest

from controlplane.audit.models import AuditEntry
from controlplane.flags.models import FlagState
from controlplane.rollouts.models import Decision, RolloutPlan
from tests.browser.helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_plan_made_in_the_form_is_started_and_its_gated_stage_approved(
    page, shoot, celery_worker, checkout_flag, production
):
    log_in(page)
    page.goto("/admin/rollouts/rolloutplan/")
    page.click(".object-tools a.addlink")  # "Add rollout plan"
    page.wait_for_url("**/admin/rollouts/rolloutplan/add/")

    # The plan: new-checkout in production, two stages (the first needs approval), one health rule.
    page.select_option("#id_flag", label="shop / new-checkout (New checkout)")
    page.select_option("#id_environment", label="shop / production")
    page.fill("#id_name", "New checkout, EU launch")
    stage_rows = page.locator("#stages tbody tr")
    assert stage_rows.count() >= 3  # prefilled default stages and empty rows
    page.fill("#id_stages-0-percent", "10")
    page.fill("#id_stages-0-min_dwell_s", "60")
    page.check("#id_stages-0-needs_approval")
    page.fill("#id_stages-1-percent", "100")
    page.fill("#id_stages-1-min_dwell_s", "60")
    for index in range(2, stage_rows.count()):  # the other prefilled stages are emptied: ignored
        page.fill(f"#id_stages-{index}-percent", "")
        page.fill(f"#id_stages-{index}-min_dwell_s", "")
        page.fill(f"#id_stages-{index}-external_check_url", "")
    page.fill("#id_rules-0-key", "errors")
    page.fill("#id_rules-0-name", "Checkout errors")
    page.select_option("#id_rules-0-metric", "error_rate")
    page.select_option("#id_rules-0-comparison", "vs_control_absolute")
    page.fill("#id_rules-0-threshold", "0.01")
    page.fill("#id_rules-0-min_samples", "200")
    page.select_option("#id_rules-0-severity", "rollback")
    page.fill("#id_reason", "launch of the new checkout")
    page.evaluate("document.getElementById('stages').scrollIntoView()")
    shoot(page, "plan-form", docs="rollout-form")
    page.click("#plan-form input[name=_save]")

    plan = RolloutPlan.objects.get()
    page.wait_for_url(f"**/admin/rollouts/rolloutplan/{plan.pk}/change/")
    assert (plan.flag_id, plan.environment_id, plan.status) == (checkout_flag.pk, production.pk, "draft")
    assert [(float(s.percent), s.min_dwell_s, s.needs_approval) for s in plan.stages.order_by("position")] == [
        (10.0, 60, True),
        (100.0, 60, False),
    ]
    assert [(r.key, r.metric, r.threshold, r.min_samples) for r in plan.rules.all()] == [
        ("errors", "error_rate", 0.01, 200)
    ]
    assert "Created the draft plan" in page.locator(".messagelist").inner_text()

    # Start it: stage 1 of 2 serves 10% of production the new checkout and waits for a person.
    start = page.locator("#action-start")
    start.locator("textarea[name=reason]").fill("release 4.2 is out")
    start.locator("input[type=submit]").click()
    page.wait_for_selector("#action-approve")
    assert "Start: done." in page.locator(".messagelist").inner_text()
    assert page.locator("#plan-percent").inner_text() == "10%"
    assert "1 of 2" in page.locator("#plan-summary").inner_text()
    assert RolloutPlan.objects.get(pk=plan.pk).status == "running"
    assert FlagState.objects.get(flag=checkout_flag, environment=production).on is True

    # Approve the gated stage with its button.
    approve = page.locator("#action-approve")
    approve.locator("textarea[name=reason]").fill("dashboards look fine")
    approve.locator("input[type=submit]").click()
    page.wait_for_selector("#action-approve", state="detached")  # approved: the button is gone
    assert "Approve stage: done." in page.locator(".messagelist").inner_text()
    plan.refresh_from_db()
    assert plan.runtime["approved_stage_index"] == 0

    # The plan page: the timeline chart and the decision log, newest first.
    chart = page.locator("#plan-chart svg")
    assert chart.count() == 1 and chart.is_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    log = page.locator("#plan-decisions tbody tr")
    rows = [(row.locator("td").nth(3).inner_text(), row.inner_text()) for row in log.all()]
    people = [(action, text) for action, text in rows if action != "hold"]  # the engine holds at the gate
    assert [action for action, _ in people] == ["approve", "start"], rows
    assert "Approved by alice: stage 1 (10%)" in people[0][1]
    assert "alice" in people[1][1]
    people_decisions = Decision.objects.filter(plan=plan).exclude(action="hold").order_by("at", "id")
    assert [d.action for d in people_decisions] == ["start", "approve"]
    assert "Reason given: dashboards look fine" in people_decisions[1].reason
    # The people's reasons are in the audit log too.
    assert AuditEntry.objects.get(action="rollout.start").reason == "release 4.2 is out"
    assert AuditEntry.objects.get(action="rollout.approve", actor="alice").reason == "dashboards look fine"
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "plan-page", docs="rollout-plan")
    page.evaluate("document.getElementById('plan-chart').scrollIntoView()")
    shoot(page, "plan-chart-and-log", docs="rollout-timeline")
