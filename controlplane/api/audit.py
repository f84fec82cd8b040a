"""REST API of the audit log: read-only, newest first, filterable.

Pages are cursors over (at, id) (``next`` / ``previous`` links, no total): a page reads its rows
from an index and stops, where counting the entries of a log of millions would read them all.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination

from controlplane.access import policy
from controlplane.api.common import StrictFields
from controlplane.api.permissions import HasRole, token_of
from controlplane.api.schema import documented
from controlplane.audit.models import AuditEntry
from controlplane.projects.models import Environment, Project


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
            "request_id",
        ]


class AuditPagination(CursorPagination):
    ordering = ("-at", "-id")  # the model's order; every filter's index ends in (at, id)
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500


@documented("audit", "an audit entry", "audit entries")
class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit log, newest first, 50 entries a page (``limit`` up to 500); follow ``next`` for
    older ones. Read-only: entries are never changed or deleted."""

    serializer_class = AuditEntrySerializer
    pagination_class = AuditPagination
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
        # Keys become ids in the small tables first: the log is then read through the index
        # that leads with project or environment, whatever the planner thinks of a join.
        projects = Project.objects.filter(key=params["project"]) if params.get("project") else None
        if projects is not None:
            queryset = queryset.filter(project_id__in=list(projects.values_list("id", flat=True)))
        if params.get("environment"):
            environments = Environment.objects.filter(key=params["environment"])
            if projects is not None:
                environments = environments.filter(project__in=projects)
            queryset = queryset.filter(environment_id__in=list(environments.values_list("id", flat=True)))
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
