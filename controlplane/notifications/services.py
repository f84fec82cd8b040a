"""Webhooks: the audited writes, ``notify`` for the rest of the control plane, and delivery attempts.

``notify`` records one delivery per matching webhook in the caller's transaction and queues them
after it commits, so a rolled-back change sends nothing. A Celery task (``tasks.deliver``) calls
``attempt_delivery``; it claims the row under a lock, POSTs outside any transaction, then records
the answer under the lock again. Delivery is at least once: receivers deduplicate on the event id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import urllib.parse
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from controlplane import outbound
from controlplane.audit import actions as audit_actions
from controlplane.audit.services import Actor, record
from controlplane.notifications import signing
from controlplane.notifications.errors import WebhookError
from controlplane.notifications.models import Webhook, WebhookDelivery
from controlplane.observability.metrics import WEBHOOK_DELIVERIES
from controlplane.projects.models import Project

logger = logging.getLogger(__name__)

USER_AGENT = "Flagplane-Webhooks/1"
# A queued attempt may start this much before its due time (clocks of the worker and the database differ).
EARLY_START = timedelta(seconds=5)
# While an attempt is in flight, next_attempt_at is pushed past its timeout by this much: a duplicate
# task finds the row "not due" and does nothing, and a worker that died mid-attempt is retried later.
LEASE_MARGIN = timedelta(seconds=30)
# A pending delivery this long past due has lost its task (broker down, worker died): queue it again.
STALE_AFTER = timedelta(seconds=60)
# Celery keeps countdown tasks in the worker; Redis re-sends unacknowledged ones after its one-hour
# visibility timeout, so no single wait is longer than that.
MAX_RETRY_DELAY_S = 3600.0
ERROR_LIMIT = 500


# --- Webhooks (audited writes) -------------------------------------------------------------------


def redacted_url(url: str) -> str:
    """Scheme and host, then a fingerprint: receivers such as chat tools put a secret in the path."""
    parts = urllib.parse.urlsplit(url)
    fingerprint = hashlib.sha256(url.encode()).hexdigest()[:12]
    return f"{parts.scheme}://{parts.netloc}/… (sha256 {fingerprint})"


def webhook_snapshot(webhook: Webhook) -> dict[str, Any]:
    """What the audit log shows: never the secret, and the URL without its path or query."""
    return {
        "url": redacted_url(webhook.url),
        "description": webhook.description,
        "active": webhook.active,
        "event_types": list(webhook.event_types),
    }


@transaction.atomic
def create_webhook(
    project: Project,
    actor: Actor,
    *,
    url: str,
    description: str = "",
    event_types: Iterable[str] = (),
    active: bool = True,
    reason: str = "",
) -> Webhook:
    """Add a webhook with a new secret; the caller shows ``webhook.secret`` to the person once."""
    webhook = Webhook(
        project=project,
        url=url,
        description=description,
        event_types=_unique(event_types),
        active=active,
        secret=signing.new_secret(),
    )
    _validate(webhook)
    webhook.save()
    record(
        actor, audit_actions.WEBHOOK_CREATE, webhook, after=webhook_snapshot(webhook), reason=reason, project=project
    )
    return webhook


@transaction.atomic
def update_webhook(webhook: Webhook, actor: Actor, changes: dict[str, Any], reason: str = "") -> Webhook:
    """Change url, description, event_types or active; the project and the secret stay."""
    before = webhook_snapshot(webhook)
    for field in ("url", "description", "active"):
        if field in changes:
            setattr(webhook, field, changes[field])
    if "event_types" in changes:
        webhook.event_types = _unique(changes["event_types"])
    if webhook_snapshot(webhook) != before:
        _validate(webhook)
        webhook.save()
        record(
            actor,
            audit_actions.WEBHOOK_UPDATE,
            webhook,
            before=before,
            after=webhook_snapshot(webhook),
            reason=reason,
            project=webhook.project,
        )
    return webhook


@transaction.atomic
def delete_webhook(webhook: Webhook, actor: Actor, reason: str = "") -> None:
    """Delete the webhook and its delivery log; deliveries still queued then find nothing to send."""
    record(
        actor,
        audit_actions.WEBHOOK_DELETE,
        webhook,
        before=webhook_snapshot(webhook),
        reason=reason,
        project=webhook.project,
    )
    webhook.delete()


def _validate(webhook: Webhook) -> None:
    try:
        webhook.full_clean()
    except ValidationError as exc:
        raise WebhookError(exc.message_dict) from exc
    problem = outbound.url_problem(webhook.url)
    if problem:
        raise WebhookError({"url": [f"This URL will not be called: {problem}."]})


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(value.strip() for value in values if value and value.strip()))


# --- Notifying -----------------------------------------------------------------------------------


def notify(project: Project, event_type: str, payload: dict[str, Any]) -> list[WebhookDelivery]:
    """Send ``event_type`` with ``payload`` to the project's active webhooks that want it.

    Call it inside the transaction that makes the change: deliveries are rows of that transaction
    and are queued only once it commits. ``payload`` must be JSON-serialisable (Django's encoder:
    datetimes and decimals become strings).
    """
    webhooks = list(
        Webhook.objects.filter(project=project, active=True).filter(
            Q(event_types=[]) | Q(event_types__contains=[event_type])
        )
    )
    if not webhooks:
        return []
    event_id = uuid.uuid4()
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(webhook=webhook, event_type=event_type, event_id=event_id, payload=payload, next_attempt_at=now)
        for webhook in webhooks
    )
    delivery_ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: enqueue(delivery_ids))
    return deliveries


def enqueue(delivery_ids: list[int]) -> None:
    """Queue a delivery task for each; if the broker is down, leave them pending for ``retry_pending``."""
    from controlplane.notifications.tasks import deliver

    for queued, delivery_id in enumerate(delivery_ids):
        try:
            deliver.delay(delivery_id)
        except Exception:  # the broker is down; each further try would wait for its timeouts again
            logger.exception(
                "Could not queue %d webhook deliveries (ids %s); they stay pending and are retried later",
                len(delivery_ids) - queued,
                delivery_ids[queued : queued + 20],
            )
            return


def retry_pending(limit: int = 1000) -> int:
    """Queue again the pending deliveries whose task was lost; returns how many."""
    stale = list(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now() - STALE_AFTER
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    enqueue(stale)
    return len(stale)


@transaction.atomic
def retry_now(delivery: WebhookDelivery, actor: Actor, reason: str = "") -> None:
    """Make one more attempt right away, even if the delivery failed for good.

    A failed delivery that fails again stays failed; a pending one keeps its schedule.
    """
    delivery = (
        WebhookDelivery.objects.select_for_update(of=("self",)).select_related("webhook__project").get(pk=delivery.pk)
    )
    if delivery.status == WebhookDelivery.Status.SUCCEEDED:
        return
    before = {"status": delivery.status, "attempts": delivery.attempts}
    delivery.status = WebhookDelivery.Status.PENDING
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "next_attempt_at"])
    after = {"status": delivery.status, "attempts": delivery.attempts}
    record(
        actor,
        audit_actions.WEBHOOK_DELIVERY_RETRY,
        delivery,
        before=before,
        after=after,
        reason=reason,
        project=delivery.webhook.project,
    )
    delivery_id = delivery.pk
    transaction.on_commit(lambda: enqueue([delivery_id]))


# --- Delivering ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    url: str
    body: bytes
    headers: dict[str, str]


def render_body(delivery: WebhookDelivery) -> bytes:
    """The JSON body; the same bytes on every attempt."""
    document = {
        "id": str(delivery.event_id),
        "type": delivery.event_type,
        "created_at": delivery.created_at.isoformat(),
        "project": delivery.webhook.project.key,
        "data": delivery.payload,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def build_request(delivery: WebhookDelivery, timestamp: int) -> Outgoing:
    body = render_body(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Flagplane-Event": delivery.event_type,
        "X-Flagplane-Delivery": str(delivery.event_id),
        "X-Flagplane-Timestamp": str(timestamp),
        "X-Flagplane-Signature": signing.sign(delivery.webhook.secret, timestamp, body),
    }
    return Outgoing(delivery.webhook.url, body, headers)


def retry_delay_s(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt: base * 2**attempts."""
    return min(float(settings.NOTIFICATIONS_RETRY_BASE_S) * 2.0**attempts, MAX_RETRY_DELAY_S)


def attempt_delivery(delivery_id: int) -> float | None:
    """Make the next attempt if one is due; returns the seconds until the next one, or None if done."""
    outgoing = _claim(delivery_id)
    if outgoing is None:
        return None
    status_code, error = post(outgoing, timeout=settings.NOTIFICATIONS_TIMEOUT_S)
    return _record_answer(delivery_id, status_code, error)


def _claim(delivery_id: int) -> Outgoing | None:
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("webhook__project")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
            return None  # deleted, or a duplicate task of a finished delivery
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + EARLY_START:
            return None  # in flight in another worker, or a retry is scheduled later
        if not delivery.webhook.active:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.last_error = "Not sent: the webhook was deactivated."
            delivery.next_attempt_at = None
            delivery.save(update_fields=["status", "last_error", "next_attempt_at"])
            return None
        delivery.attempts += 1
        timeout = timedelta(seconds=settings.NOTIFICATIONS_TIMEOUT_S)
        delivery.next_attempt_at = now + timeout + LEASE_MARGIN
        delivery.save(update_fields=["attempts", "next_attempt_at"])
        return build_request(delivery, int(time.time()))


def _record_answer(delivery_id: int, status_code: int | None, error: str) -> float | None:
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
        if delivery is None or delivery.status == WebhookDelivery.Status.SUCCEEDED:
            return None
        delivery.last_status_code = status_code
        delivery.last_error = error[:ERROR_LIMIT]
        retry_in = None
        if status_code is not None and 200 <= status_code < 300:
            delivery.status = WebhookDelivery.Status.SUCCEEDED
            delivery.delivered_at = now
            delivery.next_attempt_at = None
        elif delivery.attempts >= settings.NOTIFICATIONS_MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            retry_in = retry_delay_s(delivery.attempts)
            delivery.next_attempt_at = now + timedelta(seconds=retry_in)
        delivery.save(update_fields=["status", "last_status_code", "last_error", "next_attempt_at", "delivered_at"])
    WEBHOOK_DELIVERIES.labels("retrying" if retry_in is not None else delivery.status).inc()
    return retry_in


def post(outgoing: Outgoing, timeout: float) -> tuple[int | None, str]:
    """POST it; returns (HTTP status or None if there was no answer, error text or "").

    The error is the status line or a short reason, never the receiver's body. A redirect is a
    failed attempt: following it would turn the POST into a GET.
    """
    try:
        answer = outbound.request("POST", outgoing.url, timeout=timeout, body=outgoing.body, headers=outgoing.headers)
    except outbound.OutboundError as exc:
        return None, str(exc)
    return answer.status, "" if answer.ok else answer.summary
