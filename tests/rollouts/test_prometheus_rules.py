"""Health rules read from Prometheus: what a plan must say to use them, and what it gets back."""

from __future__ import annotations

import pytest

from controlplane.audit.models import AuditEntry
from controlplane.rollouts.models import RolloutPlan

pytestmark = pytest.mark.django_db

STAGES = [{"percent": 5, "min_dwell_s": 60}, {"percent": 100, "min_dwell_s": 60}]
EVENTS = 'sum(increase(http_errors_total{service="checkout", variant="{variant}"}[{window}]))'
TOTAL = 'sum(increase(http_requests_total{service="checkout", variant="{variant}"}[{window}]))'
RULE = {
    "key": "errors",
    "metric": "error_rate",
    "comparison": "vs_control_absolute",
    "threshold": 0.01,
    "min_samples": 500,
    "source": "prometheus",
    "source_url": "https://prometheus.example.com",
    "source_events_query": EVENTS,
    "source_total_query": TOTAL,
}


def post_plan(api, **rule):
    body = {
        "project": "shop",
        "flag": "new-checkout",
        "environment": "production",
        "stages": STAGES,
        "rules": [{**RULE, **rule}],
        "reason": "watch the APM's error counters",
    }
    return api.post("/api/v1/rollouts/", body, format="json")


def test_a_prometheus_rule_is_saved_shown_and_audited_with_its_queries(api, checkout_flag):
    response = post_plan(api)
    assert response.status_code == 201, response.json()
    [rule] = response.json()["rules"]
    assert (rule["source"], rule["source_url"]) == ("prometheus", "https://prometheus.example.com")
    assert (rule["source_events_query"], rule["source_total_query"]) == (EVENTS, TOTAL)
    entry = AuditEntry.objects.get(action="rollout.create")
    assert entry.after["rules"][0]["source_events_query"] == EVENTS


def test_both_queries_are_needed_and_each_must_select_the_arm(api, checkout_flag):
    response = post_plan(api, source_events_query="", source_total_query="sum(http_requests_total)")
    assert response.status_code == 400
    errors = response.json()
    assert "A PromQL query" in errors["rules.0.source_events_query"][0]
    assert "{variant}" in errors["rules.0.source_total_query"][0]
    assert RolloutPlan.objects.count() == 0


def test_latency_is_not_read_from_prometheus(api, checkout_flag):
    response = post_plan(api, metric="latency_p", percentile=0.95, threshold=300)
    assert response.status_code == 400
    assert "error rate or a ratio" in response.json()["rules.0.metric"][0]


def test_a_custom_ratio_and_an_absolute_threshold_are_fine(api, checkout_flag):
    response = post_plan(api, metric="ratio", comparison="absolute_threshold", threshold=0.2)
    assert response.status_code == 201, response.json()


def test_the_url_may_come_from_the_setting_and_is_needed_from_one_or_the_other(api, checkout_flag, settings):
    settings.ROLLOUTS_PROMETHEUS_URL = ""
    response = post_plan(api, source_url="")
    assert response.status_code == 400
    assert "ROLLOUTS_PROMETHEUS_URL" in response.json()["rules.0.source_url"][0]

    settings.ROLLOUTS_PROMETHEUS_URL = "https://prometheus.internal.example"
    assert post_plan(api, source_url="").status_code == 201


def test_an_internal_prometheus_must_be_allowed_like_any_outbound_host(api, checkout_flag, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    response = post_plan(api, source_url="http://10.0.0.9:9090")
    assert response.status_code == 400
    assert "will not be called" in response.json()["rules.0.source_url"][0]

    settings.OUTBOUND_ALLOWED_HOSTS = ["10.0.0.0/8"]
    assert post_plan(api, source_url="http://10.0.0.9:9090").status_code == 201


def test_the_admin_form_takes_a_prometheus_rule_and_the_plan_page_shows_its_queries(client, admin_user, checkout_flag):
    from tests.rollouts.test_admin import EMPTY_RULE, add_form, plan_url

    client.force_login(admin_user)
    rule = {
        **EMPTY_RULE,
        **{name: RULE[name] for name in ("key", "source", "source_url", "source_events_query", "source_total_query")},
        "threshold": "0.01",
    }
    production = checkout_flag.project.environments.get(key="production")
    stages = [{"percent": "5", "min_dwell_s": "60"}]

    response = client.post("/admin/rollouts/rolloutplan/add/", add_form(checkout_flag, production, stages, [rule]))

    plan = RolloutPlan.objects.get()
    assert response.status_code == 302
    saved = plan.rules.get()
    assert (saved.source, saved.source_events_query, saved.source_total_query) == ("prometheus", EVENTS, TOTAL)
    page = client.get(plan_url(plan.pk)).content.decode()
    assert "Prometheus (PromQL)" in page and "http_errors_total" in page
