"""Every page the admin draws itself leads back through Home, the app, the list and the object."""

import re
from html import unescape

import pytest

from controlplane.audit.services import SYSTEM
from controlplane.rollouts.services import create_plan

PLAN = {"stages": [{"percent": 5, "min_dwell_s": 600}, {"percent": 100, "min_dwell_s": 600}], "rules": []}


def breadcrumbs(response) -> list[tuple[str, str | None]]:
    """The page's breadcrumbs as (text, link) pairs; the current page has no link."""
    assert response.status_code == 200, response.content.decode()[:2000]
    [trail] = re.findall(r'<div class="breadcrumbs">(.*?)</div>', response.content.decode(), re.S)
    crumbs = []
    for part in unescape(trail).split("\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}"):
        link = re.search(r'href="([^"]*)"', part)
        crumbs.append((re.sub(r"<[^>]+>", "", part).strip(), link.group(1) if link else None))
    return crumbs


HOME = ("Home", "/admin/")
FLAGS = [HOME, ("Flags", "/admin/flags/"), ("Flags", "/admin/flags/flag/")]
PLANS = [HOME, ("Rollouts", "/admin/rollouts/"), ("Rollout plans", "/admin/rollouts/rolloutplan/")]


def test_a_flags_own_pages(admin_client, checkout):
    flag = ("new-checkout", f"/admin/flags/flag/{checkout.pk}/change/")
    pages = {
        "targeting/production/": "Targeting in production",
        "toggle/production/": "Turn on in production",
        "preview/": "Preview",
    }
    for page, here in pages.items():
        response = admin_client.get(f"/admin/flags/flag/{checkout.pk}/{page}")
        assert breadcrumbs(response) == [*FLAGS, flag, (here, None)]


def test_the_bulk_toggle_confirmation(admin_client, checkout):
    response = admin_client.post("/admin/flags/flag/", {"action": "turn_off", "_selected_action": [checkout.pk]})
    assert breadcrumbs(response) == [*FLAGS, ("Turn off", None)]


@pytest.fixture
def plan(checkout, shop_production):
    return create_plan(checkout, shop_production, SYSTEM, PLAN)


def test_a_rollout_plans_pages(admin_client, plan):
    change_url = f"/admin/rollouts/rolloutplan/{plan.pk}/change/"
    assert breadcrumbs(admin_client.get(change_url)) == [*PLANS, (str(plan), None)]
    confirm = admin_client.get(f"/admin/rollouts/rolloutplan/{plan.pk}/act/cancel/")
    assert breadcrumbs(confirm) == [*PLANS, (str(plan), change_url), ("Cancel…", None)]
    assert breadcrumbs(admin_client.get("/admin/rollouts/rolloutplan/add/")) == [*PLANS, ("Add rollout plan", None)]


def test_the_pages_that_show_a_secret_once(admin_client, shop_production, shop):
    issued = admin_client.post("/admin/projects/sdkkey/add/", {"environment": shop_production.pk, "name": "web"})
    keys = [HOME, ("Projects", "/admin/projects/"), ("SDK keys", "/admin/projects/sdkkey/")]
    assert breadcrumbs(issued) == [*keys, ("Issued", None)]
    created = admin_client.post(
        "/admin/notifications/webhook/add/", {"project": shop.pk, "url": "https://hooks.example.com/a", "active": "on"}
    )
    hooks = [HOME, ("Notifications", "/admin/notifications/"), ("Webhooks", "/admin/notifications/webhook/")]
    assert breadcrumbs(created) == [*hooks, ("Created", None)]
