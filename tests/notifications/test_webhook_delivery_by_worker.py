"""A real Celery worker delivers webhooks after the change commits, signs them, and retries with backoff."""

from __future__ import annotations

import json
import time

import pytest
from django.db import transaction

from controlplane.notifications import signing
from controlplane.notifications.models import WebhookDelivery
from controlplane.notifications.services import notify

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PAYLOAD = {
    "plan": 7,
    "flag": "new-checkout",
    "environment": "production",
    "status": "running",
    "stage": 1,
    "percent": 5.0,
    "reason": "stage 0 healthy for 30 min",
    "actor": "rollout engine",
}


def finished(delivery: WebhookDelivery, timeout: float = 10.0) -> WebhookDelivery:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delivery.refresh_from_db()
        if delivery.status != WebhookDelivery.Status.PENDING:
            return delivery
        time.sleep(0.02)
    raise AssertionError(f"delivery still pending after {timeout} s ({delivery.attempts} attempts)")


def test_a_committed_change_is_delivered_signed(celery_worker, fast_retries, webhook, receiver, project):
    with transaction.atomic():
        [delivery] = notify(project, "rollout.advanced", PAYLOAD)

    [request] = receiver.wait_for(1)
    delivery = finished(delivery)
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (1, 204, "")
    assert delivery.delivered_at is not None

    headers = request.headers
    assert request.path == "/hooks/flagplane"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Flagplane-Webhooks/1"
    assert headers["X-Flagplane-Event"] == "rollout.advanced"
    assert headers["X-Flagplane-Delivery"] == str(delivery.event_id)
    assert abs(int(headers["X-Flagplane-Timestamp"]) - time.time()) < 60
    assert signing.verify(
        webhook.secret, headers["X-Flagplane-Timestamp"], request.body, headers["X-Flagplane-Signature"]
    )
    assert not signing.verify(
        "whsec_someone-else", headers["X-Flagplane-Timestamp"], request.body, headers["X-Flagplane-Signature"]
    )

    body = json.loads(request.body)
    assert body == {
        "id": str(delivery.event_id),
        "type": "rollout.advanced",
        "created_at": delivery.created_at.isoformat(),
        "project": "shop",
        "data": PAYLOAD,
    }


def test_a_receiver_failing_twice_gets_a_third_attempt(celery_worker, fast_retries, webhook, receiver, project):
    receiver.fail_first = 2
    with transaction.atomic():
        [delivery] = notify(project, "rollout.paused", PAYLOAD)

    delivery = finished(delivery)
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (3, 204, "")
    requests = receiver.wait_for(3)
    assert len(requests) == 3
    # Every attempt carries the same event, re-signed with its own timestamp.
    assert {r.headers["X-Flagplane-Delivery"] for r in requests} == {str(delivery.event_id)}
    assert {r.body for r in requests} == {requests[0].body}
    for r in requests:
        assert signing.verify(
            webhook.secret, r.headers["X-Flagplane-Timestamp"], r.body, r.headers["X-Flagplane-Signature"]
        )


def test_a_receiver_that_always_fails_ends_failed_after_max_attempts(
    celery_worker, fast_retries, webhook, receiver, project
):
    receiver.always_fail = True
    with transaction.atomic():
        [delivery] = notify(project, "rollout.rolled_back", PAYLOAD)

    delivery = finished(delivery)
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts == fast_retries.NOTIFICATIONS_MAX_ATTEMPTS == 4
    assert delivery.last_status_code == 500
    assert delivery.last_error.startswith("HTTP 500")
    assert delivery.next_attempt_at is None and delivery.delivered_at is None
    time.sleep(0.3)  # longer than the next backoff would be: no fifth attempt comes
    assert len(receiver.requests) == 4


def test_a_rolled_back_change_sends_nothing(celery_worker, fast_retries, webhook, receiver, project):
    with pytest.raises(RuntimeError), transaction.atomic():
        notify(project, "rollout.started", {**PAYLOAD, "reason": "rolled back"})
        raise RuntimeError("the rollout write failed")
    assert not WebhookDelivery.objects.exists()

    # A later committed event arrives alone: the rolled-back one was never queued.
    with transaction.atomic():
        notify(project, "rollout.started", PAYLOAD)
    [request] = receiver.wait_for(1)
    time.sleep(0.2)
    assert len(receiver.requests) == 1
    assert json.loads(request.body)["data"]["reason"] == PAYLOAD["reason"]


def test_a_network_error_is_recorded_and_retried(celery_worker, fast_retries, project):
    from controlplane.audit.services import SYSTEM
    from controlplane.notifications.services import create_webhook

    fast_retries.NOTIFICATIONS_MAX_ATTEMPTS = 2
    create_webhook(project, SYSTEM, url="http://127.0.0.1:9/nobody-listens")
    with transaction.atomic():
        [delivery] = notify(project, "rollout.cancelled", PAYLOAD)

    delivery = finished(delivery)
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts == 2
    assert delivery.last_status_code is None
    assert "refused" in delivery.last_error.lower()
