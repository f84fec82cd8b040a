"""Webhooks, external checks and HTTP metric sources cannot be pointed at internal services.

A listener on 127.0.0.1 plays the internal service. By default (``OUTBOUND_ALLOWED_HOSTS`` empty)
nothing reaches it, whichever caller tries and however the URL is written; with 127.0.0.1 on the
allow-list the same requests go through. Redirects are not followed and no error repeats what
the internal service answered.
"""

from __future__ import annotations

import socket
import time

import pytest

from controlplane import outbound
from controlplane.metrics.sources import HttpJsonSource, SourceError
from controlplane.notifications.services import Outgoing, post
from controlplane.rollouts import tick_inputs
from controlplane.rollouts.models import RolloutPlan
from controlplane.rollouts.specs import load_runtime
from tests.http_server import Request, Response, serve
from tests.rollouts.helpers import act, create_plan

SECRET = "internal-secret-7f3a"


class Listener:
    """An HTTP server on 127.0.0.1 that records each request; ``/redirect`` answers 302 to ``/``."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.server = serve(self.answer)
        self.url = self.server.url

    def answer(self, request: Request) -> Response:
        self.paths.append(request.path)
        if request.path.startswith("/redirect"):
            return Response(302, headers={"Location": self.url("/")})
        return Response.json({"value": SECRET, "rate": 0.25}, 500 if request.path.startswith("/error") else 200)


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.server.close()


@pytest.fixture
def nothing_internal(settings):
    """The production default."""
    settings.OUTBOUND_ALLOWED_HOSTS = []
    return settings


def webhook_post(url: str) -> tuple[int | None, str]:
    return post(Outgoing(url, b"{}", {"Content-Type": "application/json"}), timeout=2)


def test_by_default_no_caller_reaches_a_listener_on_127_0_0_1(nothing_internal, listener):
    status, error = webhook_post(listener.url("/hook"))
    assert status is None
    assert "not a public address" in error
    with pytest.raises(SourceError, match="not a public address"):
        HttpJsonSource(listener.url("/source"), "rate").read()
    with pytest.raises(outbound.Refused):
        outbound.request("GET", listener.url("/check"), timeout=2)
    assert listener.paths == []


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.1", "2130706433", "0x7f.0.0.1", "[::ffff:127.0.0.1]", "[::1]", "0.0.0.0", "LOCALHOST."],
)
def test_every_spelling_of_this_machine_is_refused(nothing_internal, listener, host):
    with pytest.raises(outbound.Refused):
        outbound.request("GET", listener.url("/", host=host), timeout=2)
    assert outbound.url_problem(listener.url("/", host=host)) is not None
    assert listener.paths == []


def test_a_name_resolving_to_an_internal_address_is_refused_at_connect_time(nothing_internal, listener, monkeypatch):
    """DNS rebinding: the name looks public when saved; the address it resolves to is checked when used."""
    real = socket.getaddrinfo

    def resolve(host, *args, flags=0, **kwargs):
        looked_up = host == "rebind.example.com" and not flags & socket.AI_NUMERICHOST
        return real("127.0.0.1" if looked_up else host, *args, flags=flags, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    url = listener.url("/", host="rebind.example.com")
    assert outbound.url_problem(url) is None  # nothing to see in the URL itself
    with pytest.raises(outbound.Refused, match=r"rebind\.example\.com \(127\.0\.0\.1\) is not a public address"):
        outbound.request("GET", url, timeout=2)
    assert listener.paths == []
    nothing_internal.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.0/8"]
    assert outbound.request("GET", url, timeout=2).status == 200
    assert listener.paths == ["/"]


def test_with_127_0_0_1_allowed_every_caller_reaches_it(settings, listener):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    assert webhook_post(listener.url("/hook")) == (200, "")
    assert HttpJsonSource(listener.url("/source"), "rate").read() == 0.25
    assert outbound.request("GET", listener.url("/check"), timeout=2).ok
    assert listener.paths == ["/hook", "/source", "/check"]


@pytest.mark.django_db(transaction=True)
def test_an_external_check_on_an_internal_address_fails_without_calling_it(settings, api, checkout_flag, listener):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]  # saved while allowed
    check = {"percent": 5, "min_dwell_s": 1, "external_check_url": listener.url("/confirm")}
    stages = [check, {"percent": 50, "min_dwell_s": 60}]
    plan = create_plan(api, stages, rules=[])
    act(api, plan["id"], "start")
    stored = RolloutPlan.objects.get(pk=plan["id"])
    after_dwell = time.time() + 60
    assert tick_inputs.gates(stored, load_runtime(stored), after_dwell).external_check_ok is True
    settings.OUTBOUND_ALLOWED_HOSTS = []
    assert tick_inputs.gates(stored, load_runtime(stored), after_dwell).external_check_ok is False
    assert listener.paths == ["/confirm"]


def test_redirects_are_answers_not_followed(settings, listener):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    answer = outbound.request("GET", listener.url("/redirect"), timeout=2)
    assert (answer.status, answer.ok) == (302, False)
    assert webhook_post(listener.url("/redirect")) == (302, "HTTP 302 Found")
    assert listener.paths == ["/redirect", "/redirect"]  # never the Location


def test_errors_say_a_status_or_a_reason_never_what_the_service_answered(settings, listener):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    assert webhook_post(listener.url("/error")) == (500, "HTTP 500 Internal Server Error")
    with pytest.raises(SourceError) as not_a_number:
        HttpJsonSource(listener.url("/"), "value").read()
    with pytest.raises(SourceError) as failed:
        HttpJsonSource(listener.url("/error?token=abc"), "rate").read()
    for message in (str(not_a_number.value), str(failed.value)):
        assert SECRET not in message
        assert "token=abc" not in message
    assert "a string that is not a number" in str(not_a_number.value)
    assert "answered HTTP 500 Internal Server Error" in str(failed.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://localhost:8000/admin/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://192.168.0.1/",
        "http://100.100.100.200/",
        "http://[fd00:ec2::254]/",
        "http://user:pass@hooks.example.com/",
        "ftp://hooks.example.com/",
    ],
)
def test_internal_and_credential_urls_are_refused_when_saved(api, project, checkout_flag, url):
    webhook = api.post("/api/v1/projects/shop/webhooks/", {"url": url}, format="json")
    assert webhook.status_code == 400
    assert "url" in webhook.json()
    stages = [{"percent": 5, "min_dwell_s": 60, "external_check_url": url}, {"percent": 100, "min_dwell_s": 60}]
    body = {"project": "shop", "flag": "new-checkout", "environment": "production", "stages": stages, "rules": []}
    plan = api.post("/api/v1/rollouts/", body, format="json")
    assert plan.status_code == 400
    assert "stages.0.external_check_url" in plan.json()


def test_a_public_url_is_accepted_when_saved(api, project):
    url = "https://hooks.example.com/flagplane"
    response = api.post("/api/v1/projects/shop/webhooks/", {"url": url}, format="json")
    assert response.status_code == 201, response.json()
