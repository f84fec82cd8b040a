"""REST API of the audit log: read-only, newest first, filterable."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError

from controlplane.access import policy
from controlplane.api.common import StrictFields
from controlplane.api.permissions import HasRole, token_of
from controlplane.audit.models import AuditEntry


class AuditEntrySerializer(StrictFields, serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "project",
            "environment",
            "before",
            "after",
            "changes",
            "reason",
        ]


class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit log, newest first. Read-only: entries are never changed or deleted."""

    serializer_class = AuditEntrySerializer
    permission_classes = [HasRole]
    access = {"list": None, "retrieve": None}  # only the entries of projects the caller may read

    @extend_schema(
        parameters=[
            OpenApiParameter("project", str, description="Project key."),
            OpenApiParameter("environment", str, description="Environment key (with project)."),
            OpenApiParameter("action", str, description='e.g. "flag.turn_off".'),
            OpenApiParameter("object_type", str, description='e.g. "flag", "flagstate", "sdkkey".'),
            OpenApiParameter("actor", str, description="Substring of the actor."),
            OpenApiParameter("since", str, description="ISO 8601 time."),
            OpenApiParameter("until", str, description="ISO 8601 time."),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        queryset = AuditEntry.objects.all()
        user, token = self.request.user, token_of(self.request)
        if not policy.sees_everything(user, token):
            queryset = queryset.filter(project__in=policy.visible_projects(user, token))
        params = self.request.query_params
        if params.get("project"):
            queryset = queryset.filter(project__key=params["project"])
        if params.get("environment"):
            queryset = queryset.filter(environment__key=params["environment"])
        for field in ("action", "object_type"):
            if params.get(field):
                queryset = queryset.filter(**{field: params[field]})
        if params.get("actor"):
            queryset = queryset.filter(actor__icontains=params["actor"])
        for param, lookup in (("since", "at__gte"), ("until", "at__lte")):
            if params.get(param):
                try:
                    queryset = queryset.filter(**{lookup: params[param]})
                except DjangoValidationError as exc:
                    raise ValidationError({param: [f"Not a time: {' '.join(exc.messages)}"]}) from exc
        return queryset
