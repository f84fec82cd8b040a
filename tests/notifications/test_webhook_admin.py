"""The admin creates webhooks through the services (audited, secret shown once) and retries deliveries."""

from __future__ import annotations

import pytest

from controlplane.audit.models import AuditEntry
from controlplane.audit.services import SYSTEM
from controlplane.notifications.models import Webhook, WebhookDelivery
from controlplane.notifications.services import create_webhook, notify, redacted_url

pytestmark = pytest.mark.django_db


def test_creating_a_webhook_shows_its_secret_once_and_audits(admin_client, project):
    response = admin_client.post(
        "/admin/notifications/webhook/add/",
        {
            "project": project.pk,
            "url": "https://hooks.example.com/flagplane",
            "description": "ops channel",
            "active": "on",
            "event_types": ["rollout.paused", "rollout.rolled_back"],
            "reason": "page ops on rollbacks",
        },
    )
    assert response.status_code == 200
    webhook = Webhook.objects.get()
    assert webhook.secret.startswith("whsec_")
    assert webhook.event_types == ["rollout.paused", "rollout.rolled_back"]
    assert webhook.secret in response.content.decode()

    entry = AuditEntry.objects.get(action="webhook.create")
    assert (entry.actor, entry.object_id, entry.reason, entry.project_id) == (
        "alice",
        str(webhook.pk),
        "page ops on rollbacks",
        project.pk,
    )
    assert webhook.secret not in str(entry.after)

    change_page = admin_client.get(f"/admin/notifications/webhook/{webhook.pk}/change/").content.decode()
    assert webhook.secret not in change_page
    assert webhook.secret_hint in change_page


def test_a_webhook_must_have_an_http_url(admin_client, project):
    response = admin_client.post(
        "/admin/notifications/webhook/add/",
        {
            "project": project.pk,
            "url": "ftp://files.example.com/x",
            "active": "on",
        },
    )
    assert response.status_code == 200
    assert not Webhook.objects.exists()
    assert "Enter a valid URL" in response.content.decode()


def test_editing_and_deleting_are_audited(admin_client, project):
    webhook = create_webhook(project, SYSTEM, url="https://hooks.example.com/a")
    secret = webhook.secret
    response = admin_client.post(
        f"/admin/notifications/webhook/{webhook.pk}/change/",
        {
            "url": "https://hooks.example.com/b",
            "description": "",
            "event_types": ["rollout.completed"],
            "reason": "moved",
        },
    )
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert (webhook.url, webhook.active, webhook.event_types, webhook.secret) == (
        "https://hooks.example.com/b",
        False,
        ["rollout.completed"],
        secret,
    )
    update = AuditEntry.objects.get(action="webhook.update")
    # The audit log records that the URL changed, never its path (which may hold the receiver's secret).
    assert update.changes["url"] == [
        redacted_url("https://hooks.example.com/a"),
        redacted_url("https://hooks.example.com/b"),
    ]
    assert update.changes["url"][0] != update.changes["url"][1]
    assert all(value.startswith("https://hooks.example.com/… (sha256 ") for value in update.changes["url"])
    assert update.changes["active"] == [True, False]

    response = admin_client.post(f"/admin/notifications/webhook/{webhook.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Webhook.objects.exists()
    assert AuditEntry.objects.filter(action="webhook.delete", object_id=str(webhook.pk)).count() == 1


def test_deliveries_are_read_only_filterable_and_can_be_retried(
    admin_client, project, django_capture_on_commit_callbacks
):
    webhook = create_webhook(project, SYSTEM, url="https://hooks.example.com/a")
    with django_capture_on_commit_callbacks(execute=False):
        [failed] = notify(project, "rollout.paused", {"flag": "new-checkout", "reason": "error rate"})
        notify(project, "rollout.started", {"flag": "new-checkout"})
    WebhookDelivery.objects.filter(pk=failed.pk).update(
        status="failed", attempts=8, last_status_code=503, last_error="HTTP 503 Service Unavailable"
    )

    def listed(query: str) -> list[str]:
        response = admin_client.get(f"/admin/notifications/webhookdelivery/?{query}")
        return [delivery.event_type for delivery in response.context["cl"].result_list]

    assert listed("status__exact=failed") == ["rollout.paused"]
    assert listed("event_type=rollout.started") == ["rollout.started"]

    detail = admin_client.get(f"/admin/notifications/webhookdelivery/{failed.pk}/change/")
    assert detail.status_code == 200
    assert "HTTP 503 Service Unavailable" in detail.content.decode()
    assert "error rate" in detail.content.decode()
    assert admin_client.get("/admin/notifications/webhookdelivery/add/").status_code == 403

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client.post(
            "/admin/notifications/webhookdelivery/",
            {
                "action": "retry",
                "_selected_action": [failed.pk],
            },
        )
    assert response.status_code == 302
    assert len(callbacks) == 1
    failed.refresh_from_db()
    assert failed.status == "pending"
    assert AuditEntry.objects.filter(action="webhook_delivery.retry", actor="alice").count() == 1
    assert webhook.deliveries.count() == 2
