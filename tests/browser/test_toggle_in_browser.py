"""In a real browser: find a flag, turn it off in production with a reason, see it in the audit log,
and a running SDK client serves the change within a few seconds."""

from __future__ import annotations

import time

import pytest

import flagplane
from controlplane.audit.models import AuditEntry
from controlplane.audit.services import SYSTEM
from controlplane.documents.services import rebuild
from controlplane.flags.models import FlagState
from controlplane.flags.services import create_flag, get_state, update_flag_state
from tests.browser.helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

REASON = "checkout errors in EU"


@pytest.fixture
def checkout_on_in_production(project, checkout_flag, production):
    """new-checkout on in production, serving "on"; a few other flags so that the search has work to do."""
    update_flag_state(
        get_state(checkout_flag, production), SYSTEM, {"on": True, "default_serve": {"variant": "on"}}, reason="launch"
    )
    create_flag(project, SYSTEM, key="checkout-layout", name="Checkout layout", kind="multivariate",
                variants=[{"key": "control", "value": "control"}, {"key": "compact", "value": "compact"}],
                off_variant="control", tags=["checkout"])  # fmt: skip
    create_flag(project, SYSTEM, key="search-ranking", name="Search ranking v2", tags=["search"])
    create_flag(project, SYSTEM, key="dark-mode", name="Dark mode", tags=["ui"])
    rebuild(production.id)  # published now, whatever the worker is doing
    return checkout_flag


@pytest.fixture
def sdk_client(edge, sdk_key, tmp_path):
    """A client of the production web server, which serves SDKs (live_server serves the admin)."""
    client = flagplane.Client(
        sdk_key=sdk_key,
        base_url=edge.url,
        poll_interval=0.2,
        send_metrics=False,
        cache_path=tmp_path / "flags.json",
    )
    yield client
    client.close()


def test_turning_a_flag_off_in_the_admin_reaches_a_running_sdk_client(
    page, shoot, celery_worker, checkout_on_in_production, production, sdk_client
):
    flag = checkout_on_in_production
    assert sdk_client.wait_until_ready(5)
    assert sdk_client.is_enabled("new-checkout", {"key": "user-42"}, default=False) is True

    log_in(page)

    # The flag list, searched.
    page.click("#content-main tr.model-flag th a")  # the index's "Flags" row
    page.wait_for_selector("#changelist")
    page.fill("#searchbar", "checkout")
    page.press("#searchbar", "Enter")
    page.wait_for_url("**/admin/flags/flag/?q=checkout")
    keys = page.locator("#result_list tbody th a").all_inner_texts()
    assert sorted(keys) == ["checkout-layout", "new-checkout"]
    assert "production ON" in page.locator("#result_list tbody tr", has_text="new-checkout").inner_text()
    shoot(page, "flag-list", docs="flag-list")

    # The flag's page, then the confirmation page of "Turn off…" in production.
    page.click("#result_list >> text=new-checkout")
    production_row = page.locator("#environment-states tbody tr", has_text="(production)")
    production_row.locator("text=Turn off…").click()
    page.wait_for_url(f"**/admin/flags/flag/{flag.pk}/toggle/production/")
    assert page.locator("h1").inner_text() == "Turn new-checkout off in production?"
    assert "is currently ON" in page.locator("#content-main").inner_text()
    page.fill("textarea[name=reason]", REASON)
    shoot(page, "toggle-confirm", docs="toggle-confirm")
    page.click("input[type=submit][value='Yes, turn it OFF']")
    clicked = time.monotonic()

    page.wait_for_url(f"**/admin/flags/flag/{flag.pk}/change/")
    assert "Flag new-checkout is now OFF in production." in page.locator(".messagelist").inner_text()
    assert FlagState.objects.get(flag=flag, environment=production).on is False
    shoot(page, "flag-after-toggle")

    # The running client serves the off variant after its next poll of the rebuilt document.
    deadline = clicked + 5
    while sdk_client.is_enabled("new-checkout", {"key": "user-42"}, default=True) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sdk_client.is_enabled("new-checkout", {"key": "user-42"}, default=True) is False, (
        "the SDK client still sees new-checkout on 5 s after the click"
    )

    # The audit log shows who did it and why.
    page.goto("/admin/audit/auditentry/")
    row = page.locator("#result_list tbody tr", has_text=REASON)
    assert row.count() == 1
    assert "alice" in row.inner_text() and "flag.turn_off" in row.inner_text()
    shoot(page, "audit-log", docs="audit-log")
    entry = AuditEntry.objects.get(action="flag.turn_off")
    assert (entry.actor, entry.reason, entry.environment_id) == ("alice", REASON, production.pk)

    row.locator("th a, td a").first.click()
    page.wait_for_url(f"**/admin/audit/auditentry/{entry.pk}/change/")
    assert REASON in page.locator("#content-main").inner_text()
    shoot(page, "audit-entry")
