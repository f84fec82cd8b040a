"""Metric sources: HttpJsonSource against a local HTTP server; the SDK counts a source reads."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from controlplane.metrics.errors import SourceError
from controlplane.metrics.queries import ArmTotals, arm_counts
from controlplane.metrics.sources import HttpJsonSource, MetricSource, parse_path
from controlplane.rollouts.measurements import TickMeasurements
from tests.http_server import Request, Response, serve

ROUTES: dict[str, tuple[int, bytes, float]] = {
    "/rate": (200, json.dumps({"data": [{"value": 0.042}]}).encode(), 0),
    "/prometheus": (200, json.dumps({"data": {"result": [{"value": [1700000000, "0.5"]}]}}).encode(), 0),
    "/text": (200, json.dumps({"data": [{"value": "n/a"}]}).encode(), 0),
    "/flag": (200, json.dumps({"data": [{"value": True}]}).encode(), 0),
    "/broken": (500, b'{"error": "down"}', 0),
    "/html": (200, b"<html>hello</html>", 0),
    "/slow": (200, b'{"value": 1}', 2.0),
}
REQUESTS: list[str] = []


def answer(request: Request) -> Response | bytes:
    REQUESTS.append(request.path)
    if request.path == "/garbled":
        return b"not an HTTP status line\r\n\r\n"
    status, body, delay = ROUTES.get(request.path.partition("?")[0], (404, b"{}", 0))
    time.sleep(delay)
    return Response(status, body, {"Content-Type": "application/json"})


@pytest.fixture(scope="module")
def server():
    with serve(answer) as local:
        yield local.url("")


@pytest.mark.parametrize("path", ["data.0.value", "$.data[0].value", "data[0].value", "$.data.0.value"])
def test_reads_a_number_by_json_path(server, path):
    assert HttpJsonSource(f"{server}/rate", path).read() == 0.042


def test_parse_path():
    assert parse_path("$.data.result[0]['value'].1") == ["data", "result", 0, "value", 1]
    assert parse_path("data.\u00b2") == ["data", "\u00b2"]  # a superscript two is a key, not an index


def test_reads_a_prometheus_style_string_number(server):
    assert HttpJsonSource(f"{server}/prometheus", "data.result.0.value.1").read() == 0.5


@pytest.mark.parametrize(
    ("path", "json_path", "message"),
    [
        ("/broken", "value", "answered HTTP 500"),
        ("/missing", "value", "answered HTTP 404"),
        ("/rate", "data.0.latency", "nothing at 'data.0.latency'"),
        ("/rate", "data.3.value", "no item 3"),
        ("/text", "data.0.value", "a string that is not a number"),
        ("/flag", "data.0.value", "a boolean is not a number"),
        ("/rate", "data", "a list is not a number"),
        ("/html", "value", "not JSON"),
    ],
)
def test_fails_clearly(server, path, json_path, message):
    with pytest.raises(SourceError, match=message):
        HttpJsonSource(f"{server}{path}", json_path).read()


def test_a_slow_server_times_out(server):
    started = time.monotonic()
    with pytest.raises(SourceError, match=r"no answer within 0.2 s"):
        HttpJsonSource(f"{server}/slow", "value", timeout=0.2).read()
    assert time.monotonic() - started < 1.5


def test_an_unreachable_server_fails_clearly():
    with pytest.raises(SourceError, match="connection refused"):
        HttpJsonSource("http://127.0.0.1:9/value", "value", timeout=1).read()


def test_a_garbled_answer_fails_clearly(server):
    with pytest.raises(SourceError, match="not a valid HTTP answer"):
        HttpJsonSource(f"{server}/garbled", "value", timeout=2).read()


def test_only_http_urls_are_fetched():
    with pytest.raises(SourceError, match="only http"):
        HttpJsonSource("file:///etc/passwd", "value").read()


def test_measure_fills_url_placeholders(server):
    source = HttpJsonSource(f"{server}/rate?env={{environment_id}}&flag={{flag_key}}&v={{variants}}&since={{since}}",
                            "data.0.value")  # fmt: skip
    assert isinstance(source, MetricSource)
    value = source.measure(7, "new checkout", ["on", "off"], datetime(2026, 1, 31, 12, tzinfo=UTC))
    assert value == 0.042
    assert REQUESTS[-1] == "/rate?env=7&flag=new%20checkout&v=on%2Coff&since=2026-01-31T12%3A00%3A00Z"


def test_read_leaves_other_braces_alone(server):
    source = HttpJsonSource(server + '/rate?query=rate(errors{job="checkout"}[5m])', "data.0.value")
    assert source.read() == 0.042
    assert REQUESTS[-1] == '/rate?query=rate(errors{job="checkout"}[5m])'


@pytest.mark.django_db
def test_sdk_counts_are_arm_totals_of_a_metric_source(post, production, make_batch):
    assert post(make_batch()).status_code == 202
    assert issubclass(TickMeasurements, MetricSource)
    totals = arm_counts(production.id, "new-checkout", ["on"], datetime.now(UTC) - timedelta(hours=1))
    assert isinstance(totals, ArmTotals)
    assert (totals.requests, totals.errors) == (10, 2)
