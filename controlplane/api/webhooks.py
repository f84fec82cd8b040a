"""REST API of a project's webhooks and their deliveries; every write calls notifications.services.

Routed under /api/v1/projects/{project_key}/:
``webhooks/`` (the secret is in the answer to the create call only) and ``webhook-deliveries/``
(read-only, filterable by ``status``, ``event_type`` and ``webhook``; ``POST …/{id}/retry``).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from controlplane.api.common import ProjectScopedMixin, ReasonField, StrictFields, actor_of, reason_of, without_reason
from controlplane.api.permissions import HasRole
from controlplane.api.schema import documented
from controlplane.notifications import services
from controlplane.notifications.models import Webhook, WebhookDelivery


class WebhookSerializer(StrictFields, serializers.ModelSerializer):
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, help_text="Empty: every event."
    )
    secret_hint = serializers.CharField(read_only=True, help_text="The secret's first characters.")
    reason = ReasonField()

    class Meta:
        model = Webhook
        fields = ["id", "url", "description", "active", "event_types", "secret_hint", "created_at", "reason"]
        read_only_fields = ["id", "created_at"]


class CreatedWebhookSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown once: store it now.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(StrictFields, serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook",
            "event_type",
            "event_id",
            "payload",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "created_at",
            "next_attempt_at",
            "delivered_at",
        ]
        read_only_fields = fields


class RetrySerializer(StrictFields, serializers.Serializer):
    reason = ReasonField()


@documented("webhooks", "a webhook", "webhooks")
class WebhookViewSet(ProjectScopedMixin, viewsets.ModelViewSet):
    """Outbound webhooks of one project."""

    serializer_class = WebhookSerializer
    permission_classes = [HasRole]
    access = {
        "list": "webhook.read",
        "retrieve": "webhook.read",
        "create": "project.manage",
        "update": "project.manage",
        "partial_update": "project.manage",
        "destroy": "project.manage",
    }
    lookup_value_regex = r"[0-9]+"  # a non-numeric id is a 404, not a ValueError

    def get_queryset(self):
        return Webhook.objects.filter(project=self.get_project()).select_related("project")

    @extend_schema(responses={201: CreatedWebhookSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        webhook = services.create_webhook(
            self.get_project(),
            actor_of(request),
            url=data["url"],
            description=data.get("description", ""),
            event_types=data.get("event_types", []),
            active=data.get("active", True),
            reason=reason_of(request),
        )
        return Response(CreatedWebhookSerializer(webhook).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer) -> None:
        changes = without_reason(serializer.validated_data)
        serializer.instance = services.update_webhook(
            serializer.instance, actor_of(self.request), changes, reason_of(self.request)
        )

    def perform_destroy(self, instance: Webhook) -> None:
        services.delete_webhook(instance, actor_of(self.request), reason_of(self.request, {}))


@documented("webhooks", "a webhook delivery", "webhook deliveries", retry="Retry a webhook delivery now")
class WebhookDeliveryViewSet(ProjectScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Deliveries of the project's webhooks, newest first."""

    serializer_class = WebhookDeliverySerializer
    permission_classes = [HasRole]
    access = {"list": "webhook.read", "retrieve": "webhook.read", "retry": "project.manage"}
    lookup_value_regex = r"[0-9]+"  # a non-numeric id is a 404, not a ValueError

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=WebhookDelivery.Status.values),
            OpenApiParameter("event_type", str),
            OpenApiParameter("webhook", int),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        queryset = WebhookDelivery.objects.filter(webhook__project=self.get_project())
        params = self.request.query_params
        if params.get("status"):
            queryset = queryset.filter(status=params["status"])
        if params.get("event_type"):
            queryset = queryset.filter(event_type=params["event_type"])
        if params.get("webhook"):
            if not params["webhook"].isdecimal():
                raise ValidationError({"webhook": ["A webhook id (a number)."]})
            queryset = queryset.filter(webhook_id=int(params["webhook"]))
        return queryset

    @extend_schema(request=RetrySerializer, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk: str, **kwargs):
        """Make one more attempt now (a delivery that already succeeded is left alone)."""
        delivery = get_object_or_404(self.get_queryset(), pk=pk)
        services.retry_now(delivery, actor_of(request), reason_of(request))
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
