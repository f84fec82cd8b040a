"""The real SDK against a real control plane (uvicorn with the edge, PostgreSQL, Redis, a Celery worker)."""

from __future__ import annotations

import json
import os
import random
import select
import time
import urllib.request

import pytest

import flagplane
from controlplane.audit.services import SYSTEM
from controlplane.documents import cache
from controlplane.flags.services import create_segment, get_state, toggle_flag, update_flag_state
from tests.helpers import wait_for, wait_until_worker_idle

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

POLL_S = 0.5


def published_etag(environment) -> str | None:
    cached = cache.get(environment.uid)
    return cached.etag if cached else None


def toggle_and_wait_for_publication(flag, environment, on: bool) -> float:
    """Toggle through the domain service; return when the worker has published the new document."""
    before = published_etag(environment)
    toggle_flag(get_state(flag, environment), SYSTEM, on, "test")
    wait_for(lambda: published_etag(environment) not in (None, before), interval=0.01)
    return time.monotonic()


@pytest.fixture
def sdk_client(control_plane, celery_worker, checkout_flag, production, sdk_key, tmp_path):
    """Clients of the production environment, where new-checkout is off but serves "on" when on."""
    update_flag_state(get_state(checkout_flag, production), SYSTEM, {"default_serve": {"variant": "on"}})

    def published_with_default_on() -> bool:
        cached = cache.get(production.uid)
        flag = json.loads(cached.body)["flags"].get("new-checkout", {}) if cached else {}
        return flag.get("default") == {"variant": "on"}

    wait_for(published_with_default_on)
    clients = []

    def make(**options):
        options = {
            "poll_interval": POLL_S,
            "send_metrics": False,
            "cache_path": tmp_path / "flags.json",
            "stream": False,
            **options,
        }
        client = flagplane.Client(sdk_key=sdk_key, base_url=control_plane.url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_on_a_stream_a_change_is_seen_without_any_poll(sdk_client, control_plane, checkout_flag, production):
    client = sdk_client(stream=True)
    assert client.wait_until_ready(5)
    assert client.status().connection == "streaming"
    assert client.is_enabled("new-checkout", "user-1") is False
    published_at = toggle_and_wait_for_publication(checkout_flag, production, True)
    wait_for(lambda: client.is_enabled("new-checkout", "user-1"), timeout=5, interval=0.005)
    assert time.monotonic() - published_at < POLL_S
    assert control_plane.responses(200) == 0 and control_plane.responses(304) == 0  # no poll at all
    assert control_plane.responses(200, "/api/v1/sdk/stream") == 1


def test_a_flag_change_is_seen_within_one_poll_interval(sdk_client, checkout_flag, production):
    client = sdk_client()
    assert client.wait_until_ready(5)
    assert client.is_enabled("new-checkout", "user-1") is False
    published_at = toggle_and_wait_for_publication(checkout_flag, production, True)
    wait_for(lambda: client.is_enabled("new-checkout", "user-1"), timeout=5, interval=0.01)
    assert time.monotonic() - published_at <= POLL_S + 0.25


def test_polls_get_304_while_nothing_changes(sdk_client, control_plane):
    client = sdk_client()
    assert client.wait_until_ready(5)
    version = client.status().document_version
    time.sleep(POLL_S * 4)
    assert control_plane.responses(304) >= 2
    assert client.status().document_version == version


def test_stopped_control_plane_keeps_the_last_document_and_a_restart_reads_the_cache(
    sdk_client, control_plane, checkout_flag, production
):
    client = sdk_client()
    assert client.wait_until_ready(5)
    toggle_and_wait_for_publication(checkout_flag, production, True)
    wait_for(lambda: client.is_enabled("new-checkout", "user-1"), timeout=5)

    control_plane.stop()
    wait_for(lambda: client.status().stale_since is not None, timeout=5)
    assert client.is_enabled("new-checkout", "user-1") is True
    assert client.evaluate("new-checkout", "user-1").reason == "DEFAULT"

    restarted = sdk_client()  # a new process start while the control plane is down
    assert restarted.wait_until_ready(2)
    assert restarted.status().source == "cache"
    assert restarted.is_enabled("new-checkout", "user-1") is True
    assert restarted.evaluate("new-checkout", "user-1").reason == "DEFAULT"


def test_a_forked_child_gets_its_own_refresher_and_sees_updates(sdk_client, checkout_flag, production):
    client = sdk_client()
    assert client.wait_until_ready(5)
    assert client.is_enabled("new-checkout", "user-1") is False
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: like a gunicorn --preload or Celery prefork worker
        try:
            deadline = time.monotonic() + 15
            seen = False
            while time.monotonic() < deadline and not seen:
                seen = client.is_enabled("new-checkout", "user-1")
                time.sleep(0.02)
            os.write(write_end, b"1" if seen else b"0")
        finally:
            os._exit(0)
    os.close(write_end)
    toggle_and_wait_for_publication(checkout_flag, production, True)
    ready, _, _ = select.select([read_end], [], [], 20)
    answer = os.read(read_end, 1) if ready else b""
    os.waitpid(pid, 0)
    assert answer == b"1", "the forked child never saw the change"


def test_a_corrupt_copy_in_redis_never_reaches_an_sdk(sdk_client, production, checkout_flag, celery_worker):
    """A copy broken in Redis (a bad write, a flipped bit) is never served: a running SDK keeps its
    document and a new SDK process starts with the right one, not with defaults."""
    client = sdk_client()
    assert client.wait_until_ready(5)
    toggle_and_wait_for_publication(checkout_flag, production, True)
    wait_for(lambda: client.is_enabled("new-checkout", "user-1"), timeout=5)
    wait_until_worker_idle()  # no queued build may rewrite the copy after we break it
    version = client.status().document_version
    cache.client().hset(cache.document_key(production.uid), "deflate", b"\x00broken")

    fresh = sdk_client(cache_path=None)
    assert fresh.wait_until_ready(5)
    assert fresh.status().document_version == version
    assert fresh.is_enabled("new-checkout", "user-1") is True
    assert client.status().document_version == version and client.status().last_error is None


def random_context(rng: random.Random) -> dict:
    context = {"key": f"user-{rng.randrange(1_000_000)}"}
    if rng.random() < 0.8:
        context["plan"] = rng.choice(["free", "pro", "team", "FREE"])
    if rng.random() < 0.7:
        context["country"] = rng.choice(["DE", "FR", "US", "NL", "de"])
    if rng.random() < 0.6:
        context["app_version"] = rng.choice(["1.9.0", "2.0.0", "2.4.1", "3.0.0-beta.1", "x.y"])
    if rng.random() < 0.5:
        context["email"] = f"u{rng.randrange(100)}@" + rng.choice(["example.com", "acme.com", "EXAMPLE.COM"])
    if rng.random() < 0.5:
        context["orders"] = rng.choice([0, 3, 10, 42, "17", "many"])
    if rng.random() < 0.3:
        context["ip"] = rng.choice(["10.1.2.3", "192.168.1.1", "8.8.8.8", "not-an-ip"])
    return context


def test_preview_and_sdk_agree_on_10000_random_contexts(
    sdk_client, control_plane, api, write_token, project, production, layout_flag
):
    create_segment(project, SYSTEM, key="staff", included=["user-7"],
                   rules=[{"clauses": [{"attribute": "email", "op": "ends_with", "values": ["@example.com"],
                                        "case_insensitive": True}]}])  # fmt: skip
    rules = [
        {"id": "staff", "clauses": [{"attribute": "key", "op": "in_segment", "values": ["staff"]}],
         "serve": {"variant": "compact"}},
        {"id": "new-apps", "clauses": [{"attribute": "app_version", "op": "semver_gte", "values": ["2.4.0"]},
                                       {"attribute": "country", "op": "in", "values": ["DE", "NL"],
                                        "case_insensitive": True}],
         "serve": {"split": [{"variant": "control", "weight": 33_333}, {"variant": "compact", "weight": 66_667}]}},
        {"id": "heavy", "clauses": [{"attribute": "orders", "op": "num_gte", "values": [10]},
                                    {"attribute": "ip", "op": "in_cidr", "values": ["10.0.0.0/8"], "negate": True}],
         "serve": {"variant": "compact"}},
    ]  # fmt: skip
    split = [{"variant": "compact", "weight": 12_345}, {"variant": "control", "weight": 87_655}]
    targets = [{"variant": "compact", "keys": ["user-1"]}]
    changes = {"on": True, "targets": targets, "rules": rules, "default_serve": {"split": split}}
    update_flag_state(get_state(layout_flag, production), SYSTEM, changes)
    client = sdk_client()
    wait_for(lambda: client.evaluate("checkout-layout", "user-1").reason == "TARGET", timeout=10)

    rng = random.Random(20261125)
    contexts = [random_context(rng) for _ in range(10_000)]
    request = urllib.request.Request(
        f"{control_plane.url}/api/v1/projects/shop/flags/checkout-layout/preview/",
        data=json.dumps({"environment": "production", "contexts": contexts}).encode(),
        headers={"Authorization": f"Bearer {write_token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        previews = json.loads(response.read())["results"]
    disagreements = []
    for context, preview in zip(contexts, previews, strict=True):
        sdk = client.evaluate("checkout-layout", context)
        ours = {
            "value": sdk.value,
            "variant": sdk.variant,
            "reason": sdk.reason,
            "rule": sdk.rule,
            "bucket": sdk.bucket,
        }
        if ours != {key: preview[key] for key in ours}:
            disagreements.append((context, ours, preview))
    assert disagreements == []
    reasons = {preview["reason"] for preview in previews}
    assert reasons >= {"RULE_MATCH", "SPLIT"}
