"""The Prometheus rule source against a real Prometheus (Debian's package, `make prometheus`)
scraping a small exporter this test runs: counts per arm, no data, and a rollout decided on them.

Skipped, with a message, only where no Prometheus binary could be installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, start_http_server

from controlplane.metrics.errors import SourceError
from controlplane.metrics.sources import PrometheusSource
from controlplane.rollouts import services
from controlplane.rollouts.models import Decision, RolloutPlan
from tests.helpers import ROOT, free_port, wait_for, wait_for_http
from tests.rollouts.helpers import act, create_plan

EVENTS = 'sum(increase(checkout_errors_total{{service="{service}", variant="{{variant}}"}}[{{window}}]))'
TOTAL = 'sum(increase(checkout_requests_total{{service="{service}", variant="{{variant}}"}}[{{window}}]))'


def prometheus_binary() -> str | None:
    for candidate in (os.environ.get("PROMETHEUS_BINARY"), str(ROOT / ".venv/prometheus/usr/bin/prometheus")):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("prometheus")


class Exporter:
    """Two counters, by service and variant, served like any application's /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("checkout_requests", "Requests", ["service", "variant"], registry=self.registry)
        self.errors = Counter("checkout_errors", "Failed requests", ["service", "variant"], registry=self.registry)
        self.port = free_port()
        self.server, _ = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)

    def declare(self, service: str, *variants: str) -> None:
        """Series at zero for these variants (as an application exports them before any traffic)."""
        for variant in variants:
            self.requests.labels(service, variant)
            self.errors.labels(service, variant)

    def serve(self, service: str, variant: str, requests: int, errors: int) -> None:
        self.requests.labels(service, variant).inc(requests)
        self.errors.labels(service, variant).inc(errors)


class Prometheus:
    def __init__(self, binary: str, directory: Path, target_port: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = directory / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: exporter\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
        )
        self.log = (directory / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


@pytest.fixture(scope="module")
def exporter():
    exporter = Exporter()
    yield exporter
    exporter.server.shutdown()


@pytest.fixture(scope="module")
def prometheus(exporter, tmp_path_factory):
    binary = prometheus_binary()
    if binary is None:
        pytest.skip(
            "Prometheus is not installed and could not be: `make prometheus` unpacks Debian's package into "
            ".venv/prometheus (it needs apt-get and Debian's archive). The Prometheus rule source is not tested."
        )
    server = Prometheus(binary, tmp_path_factory.mktemp("prometheus"), exporter.port)
    try:
        wait_for_http(f"{server.url}/-/ready", process=server.process)
        wait_for(lambda: _has_value(server, 'sum(up{job="exporter"})', 1), timeout=30)
        yield server
    finally:
        server.stop()


def scraped_at_zero(prometheus, service: str) -> None:
    """Until Prometheus has scraped the service's series at zero: traffic after that is an increase."""
    wait_for(lambda: _has_value(prometheus, f'count(checkout_requests_total{{service="{service}"}} == 0)', 2))


def source_for(prometheus, service: str) -> PrometheusSource:
    return PrometheusSource(prometheus.url, EVENTS.format(service=service), TOTAL.format(service=service))


def measured(source: PrometheusSource, variant: str, since):
    return source.measure(1, "new-checkout", [variant], since)


def counted_at_least(source: PrometheusSource, variant: str, since, requests: int):
    """The arm's counts once Prometheus has scraped at least ``requests`` of them (False until then)."""
    try:
        counts = measured(source, variant, since)
    except SourceError:  # a series needs two scrapes before increase() has a value
        return False
    return counts if counts.requests >= requests else False


def test_each_arm_is_counted_from_its_own_series(prometheus, exporter):
    exporter.declare("counts", "on", "off")
    since = timezone.now() - timedelta(seconds=120)
    scraped_at_zero(prometheus, "counts")
    exporter.serve("counts", "on", requests=1000, errors=100)
    exporter.serve("counts", "off", requests=2000, errors=10)
    source = source_for(prometheus, "counts")

    on = wait_for(lambda: counted_at_least(source, "on", since, 950), timeout=30)
    off = wait_for(lambda: counted_at_least(source, "off", since, 1900), timeout=30)

    # increase() extrapolates past the first and last scrapes, by the same factor for both counters
    # of an arm: the counts are close, their ratio is exact.
    assert on.errors / on.requests == pytest.approx(0.10, abs=0.005)
    assert off.errors / off.requests == pytest.approx(0.005, abs=0.001)
    assert off.requests / on.requests == pytest.approx(2.0, rel=0.15)


def test_no_series_is_no_data_and_several_series_are_refused(prometheus, exporter):
    since = timezone.now() - timedelta(seconds=60)
    with pytest.raises(SourceError, match="returned no data"):
        measured(source_for(prometheus, "nobody-serves-this"), "on", since)

    exporter.declare("split", "on", "off")
    unsummed = PrometheusSource(
        prometheus.url, 'increase(checkout_errors_total{service="split"}[{window}])', TOTAL.format(service="split")
    )
    wait_for(lambda: _has_value(prometheus, 'count(increase(checkout_errors_total{service="split"}[60s]))', 2))
    with pytest.raises(SourceError, match="returned 2 series"):
        unsummed.measure(1, "new-checkout", ["on"], since)


def test_a_query_prometheus_refuses_is_no_data_and_says_which(prometheus):
    broken = PrometheusSource(prometheus.url, "sum(", TOTAL.format(service="counts"))
    with pytest.raises(SourceError, match=r"the query 'sum\(': .*HTTP 400"):
        measured(broken, "on", timezone.now() - timedelta(seconds=60))


def _has_value(prometheus, promql: str, value: float) -> bool:
    try:
        return PrometheusSource(prometheus.url, "", "").query(promql, timezone.now()) == value
    except SourceError:
        return False


def prometheus_rule(prometheus, service: str) -> dict:
    return {
        "key": "errors",
        "metric": "error_rate",
        "comparison": "vs_control_absolute",
        "threshold": 0.02,
        "min_samples": 200,
        "severity": "rollback",
        "source": "prometheus",
        "source_url": prometheus.url,
        "source_events_query": EVENTS.format(service=service),
        "source_total_query": TOTAL.format(service=service),
    }


@pytest.mark.django_db
def test_a_rollout_rolls_back_when_prometheus_shows_the_treatment_failing(prometheus, exporter, api, checkout_flag):
    exporter.declare("rollback", "on", "off")
    plan = create_plan(api, [{"percent": 5, "min_dwell_s": 600}], rules=[prometheus_rule(prometheus, "rollback")])
    act(api, plan["id"], "start")
    scraped_at_zero(prometheus, "rollback")
    exporter.serve("rollback", "on", requests=1000, errors=150)
    exporter.serve("rollback", "off", requests=1000, errors=5)

    def rolled_back() -> bool:
        services.evaluate(plan["id"])
        return RolloutPlan.objects.get(pk=plan["id"]).status == "rolled_back"

    wait_for(rolled_back, timeout=30, interval=0.5)
    decision = Decision.objects.filter(plan_id=plan["id"], action="rollback").get()
    assert "significantly worse" in decision.reason
    [outcome] = decision.outcomes
    assert outcome["verdict"] == "fail"


@pytest.mark.django_db
def test_a_rule_without_prometheus_data_never_lets_the_rollout_advance(prometheus, api, checkout_flag):
    plan = create_plan(
        api,
        [{"percent": 5, "min_dwell_s": 1}, {"percent": 100, "min_dwell_s": 60}],
        rules=[prometheus_rule(prometheus, "nobody-serves-this")],
    )
    act(api, plan["id"], "start")
    time.sleep(1.1)  # the dwell is over: only the rule's missing data holds the stage

    decision = services.evaluate(plan["id"])

    assert (decision.action, decision.waiting_on) == ("hold", "min_samples")
    assert decision.outcomes[0]["verdict"] == "insufficient_data"
    assert RolloutPlan.objects.get(pk=plan["id"]).stage_index == 0
