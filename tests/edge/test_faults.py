"""Change delivery through faults, as an operator would cause them: a frozen Redis, a killed
worker, Redis restored from an older snapshot. Every fault is done to private processes this
test starts (tests/edge/faults.py), never to the shared Redis."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

import flagplane
from controlplane.documents import cache
from tests.edge.faults import PrivateRedis, Stack, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

RECONCILE_S = 1.0
POLL_S = 0.5
TOGGLE = "/api/v1/projects/shop/flags/new-checkout/environments/production/toggle"


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


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


def toggle(stack, token: str, on: bool) -> int:
    request = urllib.request.Request(
        stack.web.url + TOGGLE, data=json.dumps({"on": on, "reason": "fault test"}).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


def test_a_toggle_while_redis_is_frozen_answers_and_reaches_the_sdk_after_the_thaw(stack, sdk, write_token):
    assert sdk.is_enabled("new-checkout", "user-1") is False
    stack.redis.freeze()
    try:
        started = time.monotonic()
        status = toggle(stack, write_token, True)
        answered = time.monotonic() - started
    finally:
        stack.redis.thaw()
    thawed = time.monotonic()
    assert 200 <= status < 300
    assert answered < 10, answered  # a bounded broker timeout, never gunicorn's 30-s kill
    wait_until(lambda: sdk.is_enabled("new-checkout", "user-1"), 60, "the SDK sees the change after the thaw")
    print(f"\nfrozen-redis: toggle_answer_s={answered:.2f} sdk_after_thaw_s={time.monotonic() - thawed:.2f}")


def test_a_build_lost_with_a_killed_worker_is_published_after_the_restart(stack, sdk, write_token):
    assert sdk.is_enabled("new-checkout", "user-1") is False
    stack.worker.kill()
    stack.beat.kill()  # the reconciler's runs would otherwise wait in the queue and hide nothing
    assert toggle(stack, write_token, True) == 200
    restarted = time.monotonic()
    stack.worker.start()
    stack.beat.start()
    wait_until(lambda: sdk.is_enabled("new-checkout", "user-1"), 60, "the SDK sees the change after the restart")
    print(f"\nkilled-worker: sdk_after_restart_s={time.monotonic() - restarted:.2f}")


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
