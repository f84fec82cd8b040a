"""Percentages are JSON numbers wherever they appear (plans, stages, decisions, flag states, audit
entries, webhook payloads), like the thresholds beside them: 5, never "5.000"."""

import json
from numbers import Number

import pytest

from controlplane.audit.services import SYSTEM
from controlplane.notifications.models import WebhookDelivery
from controlplane.notifications.services import create_webhook, render_body
from tests.rollouts.helpers import act, create_plan

pytestmark = pytest.mark.django_db

STAGES = [
    {"percent": 0.5, "min_dwell_s": 600},
    {"percent": 5, "min_dwell_s": 600},
    {"percent": 100, "min_dwell_s": 600},
]
STATE = "/api/v1/projects/shop/flags/new-checkout/environments/production/"
NUMERIC_KEYS = {"percent", "weight", "threshold", "percentile"}


def numeric_fields(value, path: str = "", numeric: bool = False) -> dict[str, object]:
    """Every value under a key that names a number, by dotted path, anywhere in ``value`` (an
    audit diff's ``[before, after]`` under such a key counts as two values)."""
    if not isinstance(value, dict | list):
        return {path: value} if numeric else {}
    found: dict[str, object] = {}
    for key, item in value.items() if isinstance(value, dict) else enumerate(value):
        where = f"{path}.{key}" if path else str(key)
        found.update(numeric_fields(item, where, key in NUMERIC_KEYS or (numeric and isinstance(key, int))))
    return found


def assert_numbers(body, expected_paths: set[str]) -> None:
    fields = numeric_fields(body)
    assert expected_paths <= set(fields), sorted(fields)
    not_numbers = {path: v for path, v in fields.items() if v is not None and not is_number(v)}
    assert not_numbers == {}


def is_number(value) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


def test_a_plan_its_stages_and_its_rules_give_percentages_as_numbers(api, checkout_flag):
    plan = create_plan(api, STAGES)
    assert_numbers(plan, {"percent", "stages.0.percent", "stages.2.percent", "rules.0.threshold"})
    assert [stage["percent"] for stage in plan["stages"]] == [0.5, 5, 100]
    assert plan["percent"] == 0

    started = act(api, plan["id"], "start", reason="release 4.2")
    assert started["percent"] == 0.5
    listed = api.get("/api/v1/rollouts/", {"flag": "new-checkout"}).json()
    assert_numbers(listed, {"results.0.percent", "results.0.stages.1.percent"})


def test_a_decision_gives_the_served_percentage_as_a_number(api, checkout_flag):
    plan = create_plan(api, STAGES)
    act(api, plan["id"], "start")
    act(api, plan["id"], "promote", reason="dashboards fine")
    decisions = api.get(f"/api/v1/rollouts/{plan['id']}/decisions/").json()["results"]
    assert [decision["percent"] for decision in decisions] == [5, 0.5]


def test_a_flag_state_gives_its_split_as_whole_numbers_whether_written_as_weight_or_percent(api, checkout_flag):
    split = [{"variant": "on", "percent": 12.5}, {"variant": "off", "weight": 87_500}]
    answer = api.patch(STATE, {"default_serve": {"split": split}, "reason": "a tenth and a bit"}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["default_serve"]["split"] == [
        {"variant": "on", "weight": 12_500},
        {"variant": "off", "weight": 87_500},
    ]
    assert_numbers(api.get(STATE).json(), {"default_serve.split.0.weight", "default_serve.split.1.weight"})


def test_a_rollouts_audit_entries_give_percentages_as_numbers(api, checkout_flag):
    plan = create_plan(api, STAGES)
    act(api, plan["id"], "start")
    entries = api.get("/api/v1/audit/", {"project": "shop"}).json()["results"]
    created = next(entry for entry in entries if entry["action"] == "rollout.create")
    started = next(entry for entry in entries if entry["action"] == "rollout.start")
    assert_numbers(created, {"after.stages.0.percent"})
    assert_numbers(started, {"before.percent", "after.percent", "changes.percent.1"})
    assert started["after"]["percent"] == 0.5


def test_a_webhook_payload_gives_the_percentage_as_a_number_like_the_api(
    api, project, checkout_flag, django_capture_on_commit_callbacks
):
    create_webhook(project, SYSTEM, url="https://hooks.example.com/all")
    plan = create_plan(api, STAGES)
    with django_capture_on_commit_callbacks(execute=False):
        started = act(api, plan["id"], "start")
    delivery = WebhookDelivery.objects.get(event_type="rollout.started")
    data = json.loads(render_body(delivery))["data"]
    assert data["percent"] == started["percent"] == 0.5
    assert is_number(data["percent"])
