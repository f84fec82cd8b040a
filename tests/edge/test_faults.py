"""Change delivery through faults, as an operator would cause them: a frozen Redis, a killed
worker, Redis restored from an older snapshot. Every fault is done to private processes this
test starts (tests/edge/faults.py), never to the shared Redis."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from django.db import connection

import flagplane
from controlplane.documents import cache, services
from tests.edge.faults import Stack, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RECONCILE_S = 1.0
POLL_S = 0.5
TOGGLE = "/api/v1/projects/shop/flags/new-checkout/environments/production/toggle"


@pytest.fixture
def stack(private_redis, checkout_flag, production, sdk_key, tmp_path):
    parts = Stack(tmp_path, private_redis, reconcile_seconds=RECONCILE_S)
    parts.start()
    yield parts
    parts.stop()


@pytest.fixture
def sdk(stack, sdk_key, tmp_path):
    client = flagplane.Client(
        sdk_key=sdk_key, base_url=stack.web.url, poll_interval=POLL_S, send_metrics=False,
        cache_path=tmp_path / "flags.json",
    )  # fmt: skip
    assert client.wait_until_ready(30)
    yield client
    client.close()


def copy_version(stack, environment) -> int | None:
    version = stack.redis.client().hget(cache.document_key(environment.uid), "version")
    return int(version) if version is not None else None


def toggle_reply(stack, token: str, on: bool) -> tuple[int, dict]:
    request = urllib.request.Request(
        stack.web.url + TOGGLE, data=json.dumps({"on": on, "reason": "fault test"}).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read())


def toggle(stack, token: str, on: bool) -> int:
    return toggle_reply(stack, token, on)[0]


def test_a_toggle_while_redis_is_frozen_answers_and_reaches_the_sdk_after_the_thaw(stack, sdk, write_token):
    """The toggle commits and says it is not published yet; it waits for the hung Redis at most
    once per use (a rate limit, the broker), never for kombu's reconnection retries or the
    server's request timeout; the reconciler publishes it once Redis answers again."""
    assert sdk.is_enabled("new-checkout", "user-1") is False
    stack.redis.freeze()
    try:
        started = time.monotonic()
        status, body = toggle_reply(stack, write_token, True)
        answered = time.monotonic() - started
    finally:
        stack.redis.thaw()
    thawed = time.monotonic()
    assert 200 <= status < 300 and body["on"] is True
    assert body["publication"]["behind"] is True and body["publication"]["queued"] is False
    assert answered < 10, answered  # generous for a loaded machine: what it shows is no 30-s hang
    assert len(stack.web.log_lines("Could not queue")) == 1
    wait_until(lambda: sdk.is_enabled("new-checkout", "user-1"), 60, "the SDK sees the change after the thaw")
    print(f"\nfrozen-redis: toggle_answer_s={answered:.2f} sdk_after_thaw_s={time.monotonic() - thawed:.2f}")


def test_after_a_broker_timeout_further_publishes_skip_the_broker(private_redis, monkeypatch, caplog):
    """One timeout, then the process remembers the broker is down: the next publish returns
    at once, and says so, instead of waiting for the same timeout again."""
    from celery import Celery

    from controlplane import broker

    monkeypatch.setattr(broker, "_down_until", 0.0)
    app = Celery("frozen", broker=private_redis.url, set_as_current=False)
    app.conf.broker_transport_options = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5, "max_retries": 0}

    @app.task(name="faults.nothing")
    def nothing() -> None:
        pass

    private_redis.freeze()
    try:
        assert broker.send(nothing) is False
        assert broker.is_down()
        assert broker.send(nothing) is False
    finally:
        private_redis.thaw()
    assert [
        record.getMessage().split(" (")[0].split(":")[0]
        for record in caplog.records
        if record.name == "controlplane.broker"
    ] == [
        "Could not queue faults.nothing",
        "Not queueing faults.nothing",
    ]


def test_a_build_lost_with_a_killed_worker_is_published_after_the_restart(stack, sdk, write_token, production):
    """The worker is SIGKILLed while it holds the build (received, not acknowledged): the message
    stays in kombu's unacked set for the visibility timeout (an hour), so only the reconciler can
    publish the change. The test holds the environment's publication lock to catch the worker
    inside the build."""
    assert sdk.is_enabled("new-checkout", "user-1") is False
    stack.beat.kill()  # the reconciler's runs would otherwise publish it as soon as the lock is free
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [services.LOCK_NAMESPACE, production.id])
        try:
            assert toggle(stack, write_token, True) == 200
            wait_until(lambda: build_waits_for_the_lock(cursor), 60, "the worker waits in the build")
            stack.worker.kill()
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [services.LOCK_NAMESPACE, production.id])
    assert stack.redis.client().hlen("unacked") == 1  # held by the killed worker, not in the queue
    restarted = time.monotonic()
    stack.worker.start()
    stack.beat.start()
    wait_until(lambda: sdk.is_enabled("new-checkout", "user-1"), 60, "the SDK sees the change after the restart")
    print(f"\nkilled-worker: sdk_after_restart_s={time.monotonic() - restarted:.2f}")


def build_waits_for_the_lock(cursor) -> bool:
    cursor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
    )
    return cursor.fetchone()[0] == 1


def test_redis_restored_from_an_older_snapshot_never_moves_an_sdk_back(stack, sdk, write_token, production):
    older = stack.redis.snapshot()
    served = sdk.status().document_version
    assert toggle(stack, write_token, True) == 200
    wait_until(lambda: sdk.is_enabled("new-checkout", "user-1"), 60, "the SDK sees the change")
    newer = sdk.status().document_version
    assert newer > served
    stack.redis.restart_from(older)
    restored = time.monotonic()
    deadline = time.monotonic() + 60
    while copy_version(stack, production) != newer:
        assert sdk.is_enabled("new-checkout", "user-1") is True
        assert sdk.status().document_version >= newer
        assert time.monotonic() < deadline, "the reconciler did not repair the restored copy"
        time.sleep(0.05)
    assert sdk.status().document_version == newer
    print(f"\nsnapshot-restore: repaired_s={time.monotonic() - restored:.2f}")
