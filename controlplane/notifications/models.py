"""Outbound webhooks of a project and the log of their deliveries."""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import models

from controlplane.projects.models import Project


class Webhook(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000, validators=[URLValidator(schemes=["http", "https"])])
    # Kept in plaintext: signing needs the secret itself, a hash would not do (see docs/webhooks.md).
    secret = models.CharField(max_length=128, editable=False)
    description = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True)
    event_types = ArrayField(
        models.CharField(max_length=64), default=list, blank=True, help_text="Events to send; empty: every event."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project__key", "created_at", "id"]

    def __str__(self) -> str:
        return self.description or self.url

    @property
    def secret_hint(self) -> str:
        return f"{self.secret[:10]}…" if self.secret else ""


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one webhook; retried until it succeeds or fails for good."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=64, db_index=True)
    event_id = models.UUIDField(
        default=uuid.uuid4, help_text="Sent as X-Flagplane-Delivery; one event has the same id at every webhook."
    )
    payload = models.JSONField(encoder=DjangoJSONEncoder, help_text='Sent as the body\'s "data".')
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="Pending: when the next attempt is due (or the current one times out)."
    )
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event_id"], name="one_delivery_per_webhook_and_event"),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=models.Q(status="pending"), name="webhookdelivery_pending_due"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → webhook {self.webhook_id}"
