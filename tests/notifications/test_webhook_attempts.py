"""One attempt at a time, recorded on the row; a redelivered task for a finished delivery does nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controlplane.audit.services import SYSTEM
from controlplane.notifications import services
from controlplane.notifications.models import WebhookDelivery
from controlplane.notifications.services import attempt_delivery, notify, retry_delay_s, update_webhook

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "plan": 3,
    "flag": "new-checkout",
    "environment": "production",
    "status": "completed",
    "stage": 4,
    "percent": 100.0,
    "reason": "",
    "actor": "alice",
}


@pytest.fixture
def delivery(webhook, project, fast_retries, django_capture_on_commit_callbacks) -> WebhookDelivery:
    with django_capture_on_commit_callbacks(execute=False):  # no task: the test makes the attempts
        [delivery] = notify(project, "rollout.completed", PAYLOAD)
    return delivery


def test_success_is_recorded_and_a_duplicate_task_sends_nothing(delivery, receiver):
    assert attempt_delivery(delivery.pk) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 204)

    assert attempt_delivery(delivery.pk) is None  # e.g. redelivered after a worker restart
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert len(receiver.requests) == 1


def test_a_failure_schedules_the_next_attempt_with_backoff(delivery, receiver, fast_retries):
    receiver.fail_first = 2
    before = timezone.now()
    assert attempt_delivery(delivery.pk) == pytest.approx(0.02 * 2)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error.startswith("HTTP 500")
    # Due a backoff after the failure (not "later than now": 40 ms pass quickly on a loaded machine).
    assert delivery.next_attempt_at >= before + timedelta(seconds=0.02 * 2)

    assert attempt_delivery(delivery.pk) == pytest.approx(0.02 * 4)
    assert attempt_delivery(delivery.pk) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        "succeeded",
        3,
        204,
        "",
    )


def test_an_attempt_not_yet_due_is_left_to_its_own_task(delivery, receiver):
    # Another worker holds the row (in flight), or the next retry is scheduled later.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=1))
    assert attempt_delivery(delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.attempts == 0
    assert receiver.requests == []


def test_a_deleted_delivery_is_ignored():
    assert attempt_delivery(987654321) is None


def test_a_webhook_deactivated_before_the_attempt_is_not_called(delivery, webhook, receiver):
    update_webhook(webhook, SYSTEM, {"active": False})
    assert attempt_delivery(delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "deactivated" in delivery.last_error
    assert receiver.requests == []


def test_a_redirect_is_a_failed_attempt(delivery, webhook, receiver, monkeypatch):
    monkeypatch.setattr(receiver, "answer", lambda received: 302)
    assert attempt_delivery(delivery.pk) is not None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)


def test_backoff_doubles_from_the_base_and_is_capped(settings):
    settings.NOTIFICATIONS_RETRY_BASE_S = 10
    assert [retry_delay_s(n) for n in range(1, 8)] == [20, 40, 80, 160, 320, 640, 1280]
    assert retry_delay_s(20) == services.MAX_RETRY_DELAY_S


def test_retry_now_gives_a_failed_delivery_one_more_attempt(
    delivery, receiver, fast_retries, admin_user, django_capture_on_commit_callbacks
):
    from controlplane.audit.models import AuditEntry
    from controlplane.audit.services import Actor

    receiver.always_fail = True
    while attempt_delivery(delivery.pk) is not None:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 4)

    receiver.always_fail = False
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.retry_now(delivery, Actor.for_user(admin_user))
    assert len(callbacks) == 1
    assert attempt_delivery(delivery.pk) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("succeeded", 5)
    assert AuditEntry.objects.filter(action="webhook_delivery.retry", actor="alice").count() == 1
