"""At 1280x800, the pages people read most fit the window: the flag list, the audit log (long
reasons included) and a running plan's page (outcome table, chart), with no sideways scrolling,
and the chart's guide labels never sit on its legends."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from controlplane.audit.services import SYSTEM
from controlplane.flags.services import create_flag, get_state, toggle_flag, update_flag_state
from controlplane.projects.services import create_environment
from controlplane.rollouts import services as rollouts
from tests.browser.helpers import log_in
from tests.rollouts.helpers import ERROR_RULE, act, create_plan, report

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LONG_REASON = (
    "https://status.example.com/incidents/2026-12-02/payments-eu-card-timeouts-over-500-eur-and-3ds-failing: "
    "turned off by the on-call engineer after the payment provider's EU endpoint started timing out for "
    "card payments above 500 EUR; see the thread in #checkout-incidents"
)
P95_RULE = {"key": "p95", "name": "p95 latency", "metric": "latency_p", "percentile": 0.95,
            "comparison": "absolute_threshold", "threshold": 400, "severity": "pause"}  # fmt: skip


def overflow(page, container: str | None = None) -> dict:
    """The page's horizontal overflow, and each ``container``'s (a table wider than its module)."""
    return page.evaluate(
        """(selector) => {
            const root = document.documentElement;
            const result = {page: root.scrollWidth - root.clientWidth, elements: []};
            if (selector) {
                for (const element of document.querySelectorAll(selector)) {
                    const box = element.parentElement;
                    const over = Math.max(element.scrollWidth - element.clientWidth,
                                          element.getBoundingClientRect().right - box.getBoundingClientRect().right);
                    if (over > 1) result.elements.push({id: element.id || element.className, over: over});
                }
            }
            return result;
        }""",
        container,
    )


def assert_fits(page, container: str | None = None) -> None:
    found = overflow(page, container)
    assert found["page"] <= 0, f"the page scrolls sideways by {found['page']} px"
    assert not found["elements"], f"wider than their containers: {found['elements']}"


@pytest.fixture(params=["closed", "open"])
def sidebar(request, page) -> str:
    """The admin's navigation sidebar closed (the other tests' pages) or open (a new user's default)."""
    if request.param == "open":
        page.add_init_script("window.localStorage.setItem('django.admin.navSidebarIsOpen', 'true')")
    return request.param


@pytest.fixture
def busy_project(project, production, checkout_flag):
    """Four environments, flags with long names and many tags, some on, one with a long reason."""
    create_environment(project, SYSTEM, key="staging")
    create_environment(project, SYSTEM, key="eu-production", name="EU production")
    create_flag(project, SYSTEM, key="checkout-payment-provider-fallback-eu-west",
                tags=["checkout", "payments", "eu", "incident-2026-12", "owner-team-payments"],
                name="Fall back to the secondary payment provider when the primary one times out")  # fmt: skip
    create_flag(project, SYSTEM, key="checkout-layout", name="Checkout layout", kind="multivariate",
                variants=[{"key": "control", "value": "control"}, {"key": "compact", "value": "compact"}],
                off_variant="control", tags=["checkout"])  # fmt: skip
    for environment in project.environments.all():
        update_flag_state(get_state(checkout_flag, environment), SYSTEM, {"on": True}, reason="launch")
    toggle_flag(get_state(checkout_flag, production), SYSTEM, False, reason=LONG_REASON)
    return project


@pytest.fixture
def running_plan(api, sdk_key, checkout_flag, production):
    """A running plan with an error rule and a p95 limit, evaluated once on reported traffic."""
    plan = create_plan(
        api,
        [{"percent": 5, "min_dwell_s": 600}, {"percent": 25, "min_dwell_s": 600}, {"percent": 100, "min_dwell_s": 600}],
        rules=[ERROR_RULE, P95_RULE],
        name="New checkout, guarded",
    )
    act(api, plan["id"], "start", reason=LONG_REASON)
    sdk = APIClient()
    sdk.credentials(HTTP_AUTHORIZATION=f"Bearer {sdk_key}")
    report(sdk, {"on": (300, 3), "off": (3000, 30)})
    rollouts.evaluate(plan["id"])
    return plan


def test_the_flag_list_and_the_audit_log_fit_1280_pixels(page, shoot, busy_project, sidebar):
    log_in(page)
    page.goto("/admin/flags/flag/")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 3
    assert_fits(page, "#result_list")
    shoot(page, f"flag-list-sidebar-{sidebar}")

    page.goto("/admin/audit/auditentry/")
    row = page.locator("#result_list tbody tr", has_text="flag.turn_off")
    assert row.count() == 1
    reason = row.locator("td.field-short_reason [title]")
    assert reason.get_attribute("title") == LONG_REASON  # the whole reason on hover
    assert_fits(page, "#result_list")
    shoot(page, f"audit-log-sidebar-{sidebar}")


def test_a_running_plans_page_fits_1280_pixels_and_its_chart_labels_stay_clear(page, shoot, running_plan, sidebar):
    log_in(page)
    page.goto(f"/admin/rollouts/rolloutplan/{running_plan['id']}/change/")
    page.wait_for_selector("#plan-outcomes table")
    assert page.locator("#plan-outcomes tbody tr.fp-outcome").count() == 2
    assert_fits(page, ".module table, .fp-chart-box svg")
    page.evaluate("document.getElementById('plan-chart').scrollIntoView()")
    shoot(page, f"plan-page-sidebar-{sidebar}")

    # Every guide label ("limit of p95: 400 ms") is clear of every legend entry of the chart.
    overlaps = page.evaluate(
        """() => {
            const boxes = (selector) => Array.from(document.querySelectorAll(selector))
                .map((element) => [element.textContent, element.getBoundingClientRect()]);
            const legends = boxes('#plan-chart .fp-legend, #plan-chart .fp-legend-swatch, #plan-chart .fp-panel-title');
            const guides = boxes('#plan-chart .fp-guide-label');
            const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
            const clashes = ([g, gb]) => legends.filter(([, lb]) => hit(gb, lb)).map(([l]) => [g, l]);
            return {guides: guides.map(([text]) => text), overlaps: guides.flatMap(clashes)};
        }"""
    )
    assert overlaps["guides"] == ["limit of p95: 400 ms"]
    assert overlaps["overlaps"] == []
