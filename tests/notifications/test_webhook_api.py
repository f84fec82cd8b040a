"""The webhooks REST API."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from controlplane.audit.models import AuditEntry
from controlplane.audit.services import SYSTEM
from controlplane.notifications.models import Webhook, WebhookDelivery
from controlplane.notifications.services import create_webhook, notify

pytestmark = pytest.mark.django_db
BASE = "/api/v1/projects/shop"


@pytest.fixture
def reader(read_token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_token}")
    return client


def test_create_returns_the_secret_once_and_audits(api, project):
    response = api.post(
        f"{BASE}/webhooks/",
        {
            "url": "https://hooks.example.com/x",
            "event_types": ["rollout.paused"],
            "reason": "pager",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    webhook = Webhook.objects.get()
    assert body["secret"] == webhook.secret
    assert body["event_types"] == ["rollout.paused"] and body["active"] is True

    listed = api.get(f"{BASE}/webhooks/").json()["results"]
    assert [item["id"] for item in listed] == [webhook.pk]
    assert "secret" not in listed[0] and listed[0]["secret_hint"] == webhook.secret_hint
    entry = AuditEntry.objects.get(action="webhook.create")
    assert entry.actor.startswith("token:ci") and entry.reason == "pager"


def test_bad_input_is_a_400(api, project):
    response = api.post(f"{BASE}/webhooks/", {"url": "ftp://x.example.com/"}, format="json")
    assert response.status_code == 400 and "url" in response.json()
    assert not Webhook.objects.exists()


def test_update_and_delete(api, project):
    webhook = create_webhook(project, SYSTEM, url="https://hooks.example.com/a")
    response = api.patch(f"{BASE}/webhooks/{webhook.pk}/", {"active": False, "reason": "noisy"}, format="json")
    assert response.status_code == 200 and response.json()["active"] is False
    assert AuditEntry.objects.get(action="webhook.update").changes == {"active": [True, False]}
    assert api.delete(f"{BASE}/webhooks/{webhook.pk}/").status_code == 204
    assert not Webhook.objects.exists()


def test_read_tokens_read_but_do_not_write(reader, project):
    create_webhook(project, SYSTEM, url="https://hooks.example.com/a")
    assert reader.get(f"{BASE}/webhooks/").status_code == 200
    assert reader.post(f"{BASE}/webhooks/", {"url": "https://hooks.example.com/b"}, format="json").status_code == 403


def test_deliveries_are_listed_filtered_and_retried(api, project, django_capture_on_commit_callbacks):
    webhook = create_webhook(project, SYSTEM, url="https://hooks.example.com/a")
    with django_capture_on_commit_callbacks(execute=False):
        [paused] = notify(project, "rollout.paused", {"flag": "new-checkout"})
        notify(project, "rollout.started", {"flag": "new-checkout"})
    WebhookDelivery.objects.filter(pk=paused.pk).update(status="failed", attempts=8)

    def listed(query: str = "") -> list[str]:
        return [item["event_type"] for item in api.get(f"{BASE}/webhook-deliveries/?{query}").json()["results"]]

    assert listed() == ["rollout.started", "rollout.paused"]
    assert listed("status=failed") == ["rollout.paused"]
    assert listed("event_type=rollout.started") == ["rollout.started"]
    assert listed(f"webhook={webhook.pk}") == ["rollout.started", "rollout.paused"]
    assert api.get(f"{BASE}/webhook-deliveries/?webhook=x").status_code == 400

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(f"{BASE}/webhook-deliveries/{paused.pk}/retry/", {"reason": "fixed"}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    assert len(callbacks) == 1
    assert AuditEntry.objects.get(action="webhook_delivery.retry").reason == "fixed"
