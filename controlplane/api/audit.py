"""REST API of the audit log: read-only, newest first, filterable, searchable by words (``q``).

Pages are cursors over (at, id) (``next`` / ``previous`` links, no total): a page reads its rows
from an index and stops, where counting the entries of a log of millions would read them all. A
search's pages are the same cursors over its matches (``audit.search.entries``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.search import SearchQuery
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.db.models.lookups import In
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination

from controlplane.access import policy
from controlplane.api.common import StrictFields
from controlplane.api.permissions import HasRole, token_of
from controlplane.api.schema import documented
from controlplane.audit import search
from controlplane.audit.models import AuditEntry, actor_has, among
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


class Searched:
    """The matches of a search in a list, as ``CursorPagination`` reads a queryset: in its order
    (newest first, or oldest first for a previous page), after its cursor's time, then a slice."""

    def __init__(self, queryset: QuerySet[AuditEntry], query: SearchQuery) -> None:
        self.queryset, self.query = queryset, query

    def order_by(self, *ordering: str) -> Searched:
        return Searched(self.queryset.order_by(*ordering), self.query)

    def filter(self, **lookups: Any) -> Searched:
        return Searched(self.queryset.filter(**lookups), self.query)

    def __getitem__(self, window: slice) -> list[AuditEntry]:
        offset = window.start or 0
        oldest_first = self.queryset.query.order_by[0] == "at"
        return search.entries(self.queryset, self.query, offset, window.stop - offset, oldest_first)


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
            OpenApiParameter(
                "q",
                str,
                description="Words of the actor, the object (a flag's key, an id), the reason or the request id, "
                'all of them in an entry; "two words" in that order; check* for words that begin with check '
                "(as the admin's search box, docs/audit.md). With the other filters; newest first.",
            ),
        ]
    )
    def list(self, request, *args, **kwargs):
        query = search.query_of(request.query_params.get("q", ""))
        if query is None:
            return super().list(request, *args, **kwargs)
        page = self.paginate_queryset(Searched(self.get_queryset(), query))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def get_queryset(self):
        queryset = AuditEntry.objects.all()
        user, token = self.request.user, token_of(self.request)
        params = self.request.query_params
        searched = search.is_search(params.get("q", ""))

        def having(field: str, ids: QuerySet) -> Q | In:
            """In a search, compared as the search index reads them (``among``); otherwise as a
            list's btree indexes do (the search index would be a bitmap and a sort there)."""
            return among(field, ids) if searched else Q(**{f"{field}_id__in": list(ids)})

        if not policy.sees_everything(user, token):
            visible = policy.visible_projects(user, token)
            queryset = queryset.filter(among("project", visible.values_list("id", flat=True)) if searched
                                       else Q(project__in=visible))  # fmt: skip
        # Keys become ids in the small tables first: the log is then read through the index
        # that leads with project or environment, whatever the planner thinks of a join.
        projects = Project.objects.filter(key=params["project"]) if params.get("project") else None
        if projects is not None:
            queryset = queryset.filter(having("project", projects.values_list("id", flat=True)))
        if params.get("environment"):
            environments = Environment.objects.filter(key=params["environment"])
            if projects is not None:
                environments = environments.filter(project__in=projects)
            queryset = queryset.filter(having("environment", environments.values_list("id", flat=True)))
        for field in ("action", "object_type"):
            if params.get(field):
                queryset = queryset.filter(**{field: params[field]})
        if params.get("actor"):
            queryset = queryset.filter(actor_has(params["actor"]))
        for param, lookup in (("since", "at__gte"), ("until", "at__lte")):
            if params.get(param):
                try:
                    queryset = queryset.filter(**{lookup: params[param]})
                except DjangoValidationError as exc:
                    raise ValidationError({param: [f"Not a time: {' '.join(exc.messages)}"]}) from exc
        return queryset
