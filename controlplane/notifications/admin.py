"""Admin for webhooks (writes through notifications.services) and their deliveries (read-only).

A new webhook's secret is shown once, on the page that answers the "add" form; afterwards only its
first characters are shown. It is not put in a message cookie or the session.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from controlplane.access import policy
from controlplane.access.admin_mixins import RoleAdminMixin
from controlplane.admin_forms import ServiceModelForm
from controlplane.admin_pages import page_context
from controlplane.audit.services import Actor
from controlplane.notifications import services
from controlplane.notifications.events import EVENT_TYPES
from controlplane.notifications.models import Webhook, WebhookDelivery
from controlplane.readonly_admin import ReadOnlyAdmin
from controlplane.service_admin import ServiceAdmin


def _formfield(db_field, **kwargs: Any):
    if db_field.name == "url":
        kwargs.setdefault("assume_scheme", "https")  # what Django 6 does; says so to silence its warning
    return db_field.formfield(**kwargs)


class WebhookForm(ServiceModelForm):
    event_types = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event, including kinds added later.",
    )

    class Meta:
        model = Webhook
        fields = ["project", "url", "description", "active", "event_types"]
        formfield_callback = _formfield

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        known = list(dict.fromkeys([*EVENT_TYPES, *(self.instance.event_types or [])]))
        self.fields["event_types"].choices = [(event_type, event_type) for event_type in known]


@admin.register(Webhook)
class WebhookAdmin(RoleAdminMixin, ServiceAdmin, admin.ModelAdmin):
    read_action = "webhook.read"
    write_action = "project.manage"
    form = WebhookForm
    list_display = ["url", "project", "description", "active", "events", "secret_hint", "created_at"]
    list_filter = [("project", admin.RelatedOnlyFieldListFilter), "active"]
    list_select_related = ["project"]
    search_fields = ["url", "description", "project__key"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "url":
            kwargs.setdefault("assume_scheme", "https")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_fields(self, request, obj=None):
        fields = ["project", "url", "description", "active", "event_types", "reason"]
        return fields if obj is None else [*fields[:-1], "secret_hint", "created_at", "deliveries_link", "reason"]

    def get_readonly_fields(self, request, obj=None):
        return ["project", "secret_hint", "created_at", "deliveries_link"] if obj else []

    @admin.display(description="Events")
    def events(self, webhook: Webhook) -> str:
        return ", ".join(webhook.event_types) or "all"

    @admin.display(description="Secret")
    def secret_hint(self, webhook: Webhook) -> str:
        return webhook.secret_hint

    @admin.display(description="Deliveries")
    def deliveries_link(self, webhook: Webhook) -> str:
        url = reverse("admin:notifications_webhookdelivery_changelist") + f"?webhook__id__exact={webhook.pk}"
        return format_html('<a href="{}">{} deliveries</a>', url, webhook.deliveries.count())

    def write(self, form: WebhookForm, actor: Actor, reason: str) -> Webhook:
        data = form.cleaned_data
        if form.instance.pk is not None:
            changes = {field: data[field] for field in ("url", "description", "active", "event_types")}
            return services.update_webhook(form.instance, actor, changes, reason)
        return services.create_webhook(
            data["project"],
            actor,
            url=data["url"],
            description=data["description"],
            event_types=data["event_types"],
            active=data["active"],
            reason=reason,
        )

    def delete_model(self, request, obj: Webhook) -> None:
        services.delete_webhook(obj, Actor.for_user(request.user), reason="deleted in the admin")

    def response_add(self, request, obj: Webhook, post_url_continue=None):
        change_url = reverse("admin:notifications_webhook_change", args=[obj.pk])
        context = page_context(self, request, "Webhook created", here="Created", webhook=obj, change_url=change_url)
        return TemplateResponse(request, "admin/notifications/webhook/secret_issued.html", context)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(RoleAdminMixin, ReadOnlyAdmin):
    project_path = "webhook__project"
    read_action = "webhook.read"

    list_display = [
        "event_type",
        "webhook",
        "project",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "event_type", ("webhook", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["webhook__project"]
    search_fields = ["event_id", "event_type", "webhook__url"]
    date_hierarchy = "created_at"
    actions = ["retry"]
    fields = [
        "webhook",
        "project",
        "event_type",
        "event_id",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "created_at",
        "next_attempt_at",
        "delivered_at",
        "payload_json",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_retry_permission(self, request) -> bool:
        return self.allows(request, "project.manage")

    @admin.display(description="Project", ordering="webhook__project__key")
    def project(self, delivery: WebhookDelivery) -> str:
        return delivery.webhook.project.key

    @admin.display(description="Payload")
    def payload_json(self, delivery: WebhookDelivery) -> str:
        text = json.dumps(delivery.payload, indent=2, ensure_ascii=False)
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)

    @admin.action(description="Retry selected deliveries now", permissions=["retry"])
    def retry(self, request, queryset):
        actor = Actor.for_user(request.user)
        retried = 0
        allowed = [d for d in queryset if policy.can(request.user, "project.manage", d.webhook.project)]
        for delivery in (d for d in allowed if d.status != WebhookDelivery.Status.SUCCEEDED):
            services.retry_now(delivery, actor, reason="retried in the admin")
            retried += 1
        skipped = len(allowed) - retried
        message = f"Queued {retried} delivery attempt(s)."
        if skipped:
            message += f" Skipped {skipped} that already succeeded."
        self.message_user(request, message, messages.SUCCESS)
