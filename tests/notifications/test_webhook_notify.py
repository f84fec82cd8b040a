"""notify() records one delivery per matching webhook and queues them only when the change commits."""

from __future__ import annotations

from unittest import mock

import pytest

from controlplane.audit.services import SYSTEM
from controlplane.notifications import services
from controlplane.notifications.models import WebhookDelivery
from controlplane.notifications.services import create_webhook, notify, update_webhook
from controlplane.projects.services import create_project

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "plan": 1,
    "flag": "new-checkout",
    "environment": "production",
    "status": "paused",
    "stage": 0,
    "percent": 1.0,
    "reason": "error rate above 2%",
    "actor": "rollout engine",
}


@pytest.fixture
def hooks(project):
    other = create_project(SYSTEM, key="billing", name="Billing")
    return {
        "all": create_webhook(project, SYSTEM, url="https://hooks.example.com/all"),
        "paused": create_webhook(project, SYSTEM, url="https://hooks.example.com/p", event_types=["rollout.paused"]),
        "done": create_webhook(
            project, SYSTEM, url="https://hooks.example.com/d", event_types=["rollout.completed", "rollout.rolled_back"]
        ),
        "inactive": create_webhook(project, SYSTEM, url="https://hooks.example.com/off", active=False),
        "other project": create_webhook(other, SYSTEM, url="https://hooks.example.com/billing"),
    }


def test_event_types_choose_the_webhooks(hooks, project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        paused = notify(project, "rollout.paused", PAYLOAD)
        started = notify(project, "rollout.started", PAYLOAD)
        rolled_back = notify(project, "rollout.rolled_back", PAYLOAD)

    assert {d.webhook for d in paused} == {hooks["all"], hooks["paused"]}
    assert {d.webhook for d in started} == {hooks["all"]}
    assert {d.webhook for d in rolled_back} == {hooks["all"], hooks["done"]}


def test_one_event_has_one_id_and_pending_deliveries(hooks, project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deliveries = notify(project, "rollout.paused", PAYLOAD)

    assert len(callbacks) == 1  # queued only after commit
    assert len({d.event_id for d in deliveries}) == 1
    for delivery in WebhookDelivery.objects.filter(pk__in=[d.pk for d in deliveries]):
        assert delivery.status == WebhookDelivery.Status.PENDING
        assert delivery.attempts == 0
        assert delivery.payload == PAYLOAD
        assert delivery.next_attempt_at is not None


def test_no_webhook_no_delivery(project, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert notify(project, "rollout.started", PAYLOAD) == []
    assert callbacks == []


def test_a_deactivated_webhook_gets_nothing_new(hooks, project, django_capture_on_commit_callbacks):
    update_webhook(hooks["paused"], SYSTEM, {"active": False})
    with django_capture_on_commit_callbacks(execute=False):
        assert {d.webhook for d in notify(project, "rollout.paused", PAYLOAD)} == {hooks["all"]}


def test_commit_queues_one_task_per_delivery(hooks, project, django_capture_on_commit_callbacks):
    with (
        mock.patch("controlplane.notifications.tasks.deliver.delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        deliveries = notify(project, "rollout.paused", PAYLOAD)
    assert sorted(call.args[0] for call in delay.call_args_list) == sorted(d.pk for d in deliveries)


def test_broker_down_leaves_deliveries_pending_until_retry_pending(
    hooks, project, django_capture_on_commit_callbacks, caplog
):
    broker_down = ConnectionRefusedError(111, "Connection refused")
    with (
        mock.patch("controlplane.notifications.tasks.deliver.delay", side_effect=broker_down) as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        deliveries = notify(project, "rollout.paused", PAYLOAD)  # the caller's change still commits
    assert delay.call_count == 1  # gave up at the first failure instead of waiting on each
    assert "Could not queue 2 webhook deliveries" in caplog.text
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"pending"}

    with mock.patch("controlplane.notifications.tasks.deliver.delay") as delay:
        assert services.retry_pending() == 0  # not stale yet: their tasks may still be on the way
        WebhookDelivery.objects.update(next_attempt_at=services.timezone.now() - services.STALE_AFTER)
        assert services.retry_pending() == 2
    assert sorted(call.args[0] for call in delay.call_args_list) == sorted(d.pk for d in deliveries)


def test_a_payload_that_is_not_json_fails_in_the_caller(hooks, project):
    with pytest.raises(TypeError):
        notify(project, "rollout.paused", {"when": object()})
