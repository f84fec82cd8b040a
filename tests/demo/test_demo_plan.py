"""What demo/run_demo.py sends to the REST API is accepted, and how it prints decisions."""

from __future__ import annotations

import pytest

from demo.run_demo import STAGES, _shape, flag_body, plan_body, rule_line, traffic_line
from demo.service import VariantTotals


@pytest.mark.django_db
@pytest.mark.parametrize("faulty", [False, True])
def test_the_demo_flag_and_plan_are_accepted_and_start_at_one_percent(api, project, production, faulty):
    flag = "checkout-v2-20260101-120000"
    created = api.post("/api/v1/projects/shop/flags/", flag_body(flag), format="json")
    assert created.status_code == 201, created.content

    plan = api.post("/api/v1/rollouts/", plan_body(flag, faulty, project="shop"), format="json")
    assert plan.status_code == 201, plan.content
    body = plan.json()
    assert [float(s["percent"]) for s in body["stages"]] == [percent for percent, _ in STAGES]
    assert body["rules"][0]["comparison"] == "vs_control_absolute" and body["rules"][0]["severity"] == "rollback"

    started = api.post(f"/api/v1/rollouts/{body['id']}/start/", {"reason": "make demo"}, format="json")
    assert started.status_code == 200, started.content
    assert (started.json()["status"], started.json()["stage"], started.json()["percent"]) == ("running", 1, 1)


def test_a_hold_is_printed_again_only_when_its_words_change():
    assert _shape("minimum dwell time, 28 s left.") == _shape("minimum dwell time, 3 s left.")
    assert _shape("minimum dwell time, 28 s left.") != _shape("waiting for minimum samples (171 of 200 needed)")


def test_rule_line_shows_the_numbers_behind_a_verdict():
    outcome = {
        "rule_id": "errors",
        "verdict": "fail",
        "treatment_n": 214,
        "treatment_events": 19,
        "control_n": 23188,
        "control_events": 233,
        "treatment_value": 0.0888,
        "control_value": 0.01,
        "lower": 0.0075,
        "upper": 0.15,
    }
    assert rule_line(outcome) == (
        "rule errors: fail; new 19/214 errors (8.88%) vs old 233/23188 (1.00%), "
        "difference 95% bounds [+0.75, +15.00] pp"
    )
    short = {**outcome, "verdict": "insufficient_data", "treatment_value": None, "lower": None, "upper": None}
    assert "new 19/214 errors (8.88%)" in rule_line(short) and "bounds" not in rule_line(short)


def test_traffic_line():
    line = traffic_line({"new": VariantTotals(100, 8, 9000.0), "old": VariantTotals(9900, 99, 396000.0)}, 10.0)
    assert "1000 req/s" in line and "new path 1.0%" in line
    assert "new   100 req    8 err (8.0%, 90 ms)" in line and "old  9900 req   99 err (1.0%, 40 ms)" in line
