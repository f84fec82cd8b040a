"""The rollout engine's metrics: ticks by outcome, their latency, and decisions by action."""

from __future__ import annotations

import pytest

from controlplane.rollouts import services
from tests.observability.helpers import scrape, value
from tests.rollouts.helpers import act, create_plan

pytestmark = pytest.mark.django_db


def test_ticks_their_latency_and_decisions_are_counted(client, api, checkout_flag, django_capture_on_commit_callbacks):
    plan = create_plan(api, [{"percent": 5, "min_dwell_s": 600}, {"percent": 100, "min_dwell_s": 600}])
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        act(api, plan["id"], "start")
    with django_capture_on_commit_callbacks(execute=True):
        services.evaluate(plan["id"])
        services.evaluate(plan["id"])

    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("flagplane_rollout_ticks_total", outcome="decided") == 2
    assert moved("flagplane_rollout_tick_seconds_count") == 2
    assert moved("flagplane_rollout_decisions_total", action="start") == 1
    assert moved("flagplane_rollout_decisions_total", action="hold") == 2
