"""/metrics: Prometheus text for the allowed networks or the bearer token, a bare 403 for anyone else."""

from __future__ import annotations

import ipaddress

import pytest

from tests.observability.helpers import parse

OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}


def test_metrics_are_served_to_this_host_by_default(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = parse(response.content.decode())
    assert ("flagplane_metric_batches_total", (("outcome", "rejected"),)) in samples


def test_metrics_are_refused_to_another_network_without_a_token(client):
    response = client.get("/metrics", **OUTSIDE)
    assert response.status_code == 403
    assert response.content == b"Forbidden\n"


def test_metrics_are_served_anywhere_with_the_token_and_refused_with_another(client, settings):
    settings.METRICS_ENDPOINT_TOKEN = "s3cret-scrape-token"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token", **OUTSIDE).status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer guess", **OUTSIDE).status_code == 403
    assert client.get("/metrics", **OUTSIDE).status_code == 403


@pytest.mark.parametrize("networks", [[], ["10.0.0.0/8"]])
def test_this_host_is_refused_too_when_it_is_not_an_allowed_network(client, settings, networks):
    settings.METRICS_ENDPOINT_NETWORKS = [ipaddress.ip_network(n) for n in networks]
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.2.3.4").status_code == (200 if networks else 403)


def test_metrics_answer_a_pod_ip_host_that_is_not_an_allowed_host(client):
    assert client.get("/metrics", HTTP_HOST="10.1.2.3:8000").status_code == 200
