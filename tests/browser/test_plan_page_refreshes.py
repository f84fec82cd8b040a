"""In a real browser: an active plan's page refreshes itself (a script file, allowed by the CSP)."""

from __future__ import annotations

import pytest

from controlplane.audit.services import SYSTEM
from controlplane.rollouts import admin as rollout_admin
from controlplane.rollouts import services
from controlplane.rollouts.models import RolloutPlan
from tests.browser.helpers import log_in
from tests.rollouts.helpers import act, create_plan

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_running_plans_page_shows_a_pause_made_elsewhere(page, api, monkeypatch, checkout_flag, production):
    monkeypatch.setattr(rollout_admin, "REFRESH_SECONDS", 1)
    plan = create_plan(api, [{"percent": 5, "min_dwell_s": 600}, {"percent": 100, "min_dwell_s": 600}], rules=[])
    act(api, plan["id"], "start")
    log_in(page)
    page.goto(f"/admin/rollouts/rolloutplan/{plan['id']}/change/")
    assert page.locator("#plan-summary").get_attribute("data-status") == "running"
    services.act(RolloutPlan.objects.get(pk=plan["id"]), "pause", SYSTEM, "paused from the API")
    page.wait_for_selector('#plan-summary[data-status="paused"]')
