"""A Prometheus rule's closed stages are queried once: stored as ``SourceCounts`` once their data has
arrived, read from there by later ticks, which query Prometheus only for the open stage and the window.

A small HTTP server plays Prometheus: each instant query gets a count that depends on the arm and
the range asked for (10 requests a second for the treatment, 100 for the control, 1% errors), and
every query is recorded with the time it is evaluated at. Traffic stopped when the last stage began
(a query evaluated at the present counts nothing), so a tick's counts do not depend on how long it
took: two ticks differ only in where they read the closed stages from.
"""

from __future__ import annotations

import re
import time
import urllib.parse

import pytest

from controlplane.rollouts import clock, services
from controlplane.rollouts.measurements import totals_from_json
from controlplane.rollouts.models import SourceCounts
from tests.http_server import Request, Response, serve
from tests.rollouts.helpers import act, create_plan

pytestmark = pytest.mark.django_db

PER_SECOND = {"on": 10, "off": 100}


class FakePrometheus:
    """Answers ``/api/v1/query`` with one series; ``queries`` holds (promql, time) of each request."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, float]] = []
        self.server = serve(self.query)
        self.url = self.server.url("")

    def query(self, request: Request) -> Response:
        params = urllib.parse.parse_qs(urllib.parse.urlparse(request.path).query)
        promql, at = params["query"][0], float(params["time"][0])
        self.queries.append((promql, at))
        answer = count(promql) if at < time.time() - 30 else 0
        vector = [{"metric": {}, "value": [at, str(answer)]}]
        return Response.json({"status": "success", "data": {"resultType": "vector", "result": vector}})


def count(promql: str) -> float:
    variant = re.search(r'variant="([^"]+)"', promql).group(1)
    seconds = int(re.search(r"\[(\d+)s\]", promql).group(1))
    requests = PER_SECOND[variant] * seconds
    return requests / 100 if promql.startswith("sum(increase(errors") else requests


@pytest.fixture
def prometheus():
    server = FakePrometheus()
    yield server
    server.server.close()


@pytest.fixture
def plan_at_stage_3(api, checkout_flag, prometheus, monkeypatch) -> int:
    """A Prometheus error-rate rule; started three minutes ago, promoted a minute apart since."""
    rule = {"key": "errors", "metric": "error_rate", "comparison": "vs_control_absolute", "threshold": 0.01,
            "min_samples": 100, "source": "prometheus", "source_url": prometheus.url,
            "source_events_query": 'sum(increase(errors_total{variant="{variant}"}[{window}]))',
            "source_total_query": 'sum(increase(requests_total{variant="{variant}"}[{window}]))'}  # fmt: skip
    stages = [
        {"percent": 1, "min_dwell_s": 600},
        {"percent": 5, "min_dwell_s": 600},
        {"percent": 50, "min_dwell_s": 600},
    ]
    plan = create_plan(api, stages, rules=[rule])
    now = time.time()
    for minutes_ago, action in ((3, "start"), (2, "promote"), (1, "promote")):
        monkeypatch.setattr(clock, "now", lambda at=now - minutes_ago * 60: at)
        act(api, plan["id"], action)
    monkeypatch.setattr(clock, "now", lambda: now)
    prometheus.queries.clear()  # the actions' own evaluations are queued, not run here
    return plan["id"]


def numbers(entry) -> list[tuple]:
    return [(o["treatment_n"], o["control_n"], o["lower"], o["upper"]) for o in entry.outcomes]


def test_closed_stages_are_queried_once_and_decided_on_the_same_counts(plan_at_stage_3, prometheus, settings):
    settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S = 0
    first = services.evaluate(plan_at_stage_3)
    first_queries = len(prometheus.queries)
    prometheus.queries.clear()
    second = services.evaluate(plan_at_stage_3)

    stored = SourceCounts.objects.filter(rule__plan_id=plan_at_stage_3)
    assert stored.count() == 2 * 2  # both arms of both closed stages
    closed_ends = {row.until.timestamp() for row in stored}
    assert not [at for _, at in prometheus.queries if at in closed_ends]
    assert len(prometheus.queries) == first_queries - 2 * 2 * 2  # two queries per arm of each closed stage
    assert numbers(first) == numbers(second)
    assert first.outcomes[0]["treatment_n"] > 0


def test_a_stored_stage_holds_what_prometheus_counted_for_it(plan_at_stage_3, settings):
    settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S = 0
    services.evaluate(plan_at_stage_3)
    stored = list(SourceCounts.objects.all())
    assert len(stored) == 2 * 2
    for row in stored:
        seconds = round((row.until - row.since).total_seconds())
        totals = totals_from_json(row.totals)
        assert (totals.requests, totals.errors) == (
            PER_SECOND[row.variant] * seconds,
            PER_SECOND[row.variant] * seconds // 100,
        )


def test_a_stage_whose_data_may_still_arrive_is_queried_again(plan_at_stage_3, prometheus, settings):
    settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S = 3600
    services.evaluate(plan_at_stage_3)
    first_queries = len(prometheus.queries)
    prometheus.queries.clear()
    services.evaluate(plan_at_stage_3)
    assert not SourceCounts.objects.exists()
    assert len(prometheus.queries) == first_queries


def test_closed_stages_are_stored_with_the_ticks_decision_and_not_by_a_tick_that_stands_down(
    api, plan_at_stage_3, settings
):
    settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S = 0
    stored = SourceCounts.objects.filter(rule__plan_id=plan_at_stage_3)
    loaded = services.load_active([plan_at_stage_3])
    act(api, plan_at_stage_3, "pause")  # after the tick read the plan: its hold is not written

    assert services.evaluate_batch(list(loaded.values())) == {plan_at_stage_3: None}
    assert not stored.exists()
    assert services.evaluate(plan_at_stage_3).action == "hold"  # the next tick, paused
    assert stored.count() == 2 * 2
