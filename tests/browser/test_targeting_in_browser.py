"""In a real browser: add a targeting rule through the targeting form; a wrong regex is shown and saves nothing."""

from __future__ import annotations

import pytest

from controlplane.audit.models import AuditEntry
from controlplane.flags.models import FlagState
from tests.browser.helpers import log_in

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def state_of(flag, environment) -> FlagState:
    return FlagState.objects.get(flag=flag, environment=environment)


def test_adding_a_rule_saves_it_and_a_bad_regex_saves_nothing(page, shoot, celery_worker, checkout_flag, production):
    flag = checkout_flag
    targeting_url = f"/admin/flags/flag/{flag.pk}/targeting/production/"
    version = state_of(flag, production).version
    log_in(page)

    # Add a rule: pro and enterprise customers get "on".
    page.goto(targeting_url)
    rule = page.locator("#rule-1")
    assert "new: fill in to add" in rule.locator("h3").inner_text()
    page.fill("#id_rules-0-description", "Pro and enterprise customers")
    page.fill("#id_rules-0-clause_0_attribute", "plan")
    page.select_option("#id_rules-0-clause_0_op", "in")
    page.fill("#id_rules-0-clause_0_values", "pro, enterprise")
    page.check("#id_rules-0-serve_mode_0")
    page.select_option("#id_rules-0-serve_variant", "on")
    page.fill("#id_reason", "beta for paying customers")
    page.evaluate("document.getElementById('rule-1').scrollIntoView(); window.scrollBy(0, -50)")  # with its heading
    shoot(page, "targeting-rule", docs="targeting-rule")
    page.click("input[name=_save]")

    page.wait_for_url(f"**/admin/flags/flag/{flag.pk}/change/")
    message = page.locator(".messagelist").inner_text()
    assert f"now version {version + 1}" in message
    saved = state_of(flag, production)
    assert saved.version == version + 1
    assert len(saved.rules) == 1
    assert saved.rules[0]["description"] == "Pro and enterprise customers"
    assert [(c["attribute"], c["op"], c["values"]) for c in saved.rules[0]["clauses"]] == [
        ("plan", "in", ["pro", "enterprise"])
    ]
    assert saved.rules[0]["serve"] == {"variant": "on"}
    assert AuditEntry.objects.filter(action="flag_state.update", reason="beta for paying customers").count() == 1
    production_row = page.locator("#environment-states tbody tr", has_text="(production)")
    assert production_row.locator("td").nth(5).inner_text() == "1"  # the Rules column
    shoot(page, "rule-saved")

    # The saved rule is on the page; a second rule with a broken regex is refused, field by field.
    page.goto(targeting_url)
    assert page.locator("#id_rules-0-clause_0_values").input_value() == "pro\nenterprise"
    page.fill("#id_rules-1-description", "Legacy plans")
    page.fill("#id_rules-1-clause_0_attribute", "plan")
    page.select_option("#id_rules-1-clause_0_op", "regex")
    page.fill("#id_rules-1-clause_0_values", "^(free|pro")
    page.select_option("#id_rules-1-serve_variant", "off")
    page.fill("#id_reason", "should not be saved")
    audit_entries = AuditEntry.objects.count()
    page.click("input[name=_save]")

    page.wait_for_load_state()
    assert page.url.endswith(targeting_url)  # no redirect: the page is shown again
    summary = page.locator("#targeting-errors")
    summary.wait_for()
    summary_text = summary.inner_text()
    assert "Nothing was saved" in summary_text
    assert "Rule 2, clause 1, value 1: Invalid regular expression '^(free|pro'" in summary_text
    # ... and the message sits next to the clause that caused it.
    bad_row = page.locator("#rule-2 table.fp-clauses tbody tr").first
    assert "fp-error-row" in (bad_row.get_attribute("class") or "")
    assert "Invalid regular expression" in bad_row.locator(".errorlist").inner_text()
    assert page.locator("#id_rules-1-clause_0_values").input_value() == "^(free|pro"  # the input is kept
    shoot(page, "targeting-error", docs="targeting-error")
    page.evaluate("document.getElementById('rule-2').scrollIntoView()")
    shoot(page, "targeting-error-row")

    unchanged = state_of(flag, production)
    assert unchanged.version == version + 1
    assert unchanged.rules == saved.rules
    assert AuditEntry.objects.count() == audit_entries
    assert not AuditEntry.objects.filter(reason="should not be saved").exists()
