"""The audit log in the admin: read-only, filterable, with each change shown as before/after.

Made for a log of millions of entries: a page reads its rows through an index in the list's
order (see the model's indexes); the sidebar's choices come from the small project and
environment tables and, for actions and object types, from a walk over their indexes (one
probe per distinct value); the count stops at ``EstimatedCountPaginator.exact_up_to``. A search
finds its page and count through ``audit.search`` (``SearchChangeList``).
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import build_q_object_from_lookup_parameters
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join

from controlplane.access import policy
from controlplane.access.admin_mixins import RoleAdminMixin
from controlplane.audit import search
from controlplane.audit.estimates import estimated_rows
from controlplane.audit.models import SEARCHED_FIELDS, AuditEntry, among
from controlplane.projects.models import Environment, Project
from controlplane.readonly_admin import ReadOnlyAdmin


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def changed_lines(before: Any, after: Any) -> str:
    """A line diff of two JSON values, for lists and objects too long to compare by eye."""
    lines = difflib.unified_diff(as_text(before).splitlines(), as_text(after).splitlines(), lineterm="", n=2)
    return "\n".join(line for line in lines if not line.startswith(("---", "+++")))


class EstimatedCountPaginator(Paginator):
    """Counts exactly up to ``exact_up_to`` entries; beyond, PostgreSQL's estimate of the rows
    (EXPLAIN, from the table's statistics): the pages' links stay, without reading millions of
    index entries on every page."""

    exact_up_to = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list.order_by()
        counted = queryset[: self.exact_up_to + 1].count()
        if counted <= self.exact_up_to:
            return counted
        return max(counted, estimated_rows(queryset))


def distinct_values(column: str) -> list[str]:
    """The distinct values of an indexed column of the log, one index probe per value (a loose
    index scan), rather than DISTINCT over every entry."""
    table = AuditEntry._meta.db_table
    with connections["default"].cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE found(value) AS (
                (SELECT {column} FROM {table} ORDER BY {column} LIMIT 1)
                UNION ALL
                SELECT (SELECT {column} FROM {table} WHERE {column} > found.value ORDER BY {column} LIMIT 1)
                FROM found WHERE found.value IS NOT NULL
            )
            SELECT value FROM found WHERE value IS NOT NULL
            """
        )
        return [row[0] for row in cursor.fetchall()]


class IndexedValueFilter(admin.SimpleListFilter):
    """One of the values a column holds (``action``, ``object_type``)."""

    def lookups(self, request, model_admin):
        return [(value, value) for value in distinct_values(self.parameter_name)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.parameter_name: self.value()})
        return queryset


class ActionFilter(IndexedValueFilter):
    title = "action"
    parameter_name = "action"


class ObjectTypeFilter(IndexedValueFilter):
    title = "object type"
    parameter_name = "object_type"


def searched(request) -> bool:
    return search.is_search(request.GET.get(SEARCH_VAR, ""))


class IdFilter(admin.RelatedFieldListFilter):
    """A project or an environment by id; in a search, compared as the search index reads it
    (``among``), "none" (``__isnull``) as Django filters it."""

    def queryset(self, request, queryset):
        if not searched(request):
            return super().queryset(request, queryset)
        ids = self.used_parameters.get(self.lookup_kwarg)
        others = {name: value for name, value in self.used_parameters.items() if name != self.lookup_kwarg}
        queryset = queryset.filter(build_q_object_from_lookup_parameters(others)) if others else queryset
        try:
            return queryset.filter(among(self.field_path, ids)) if ids else queryset
        except ValueError as exc:
            raise IncorrectLookupParameters(exc) from exc


class ProjectFilter(IdFilter):
    """The projects the person may read, from the project table."""

    def field_choices(self, field, request, model_admin):
        projects = Project.objects.order_by("key")
        if not policy.sees_everything(request.user):
            projects = projects.filter(pk__in=policy.visible_projects(request.user))
        return [(project.pk, str(project)) for project in projects]


class EnvironmentFilter(IdFilter):
    """The environments of the projects the person may read, from the environment table."""

    def field_choices(self, field, request, model_admin):
        environments = Environment.objects.select_related("project").order_by("project__key", "position", "key")
        if not policy.sees_everything(request.user):
            environments = environments.filter(project__in=policy.visible_projects(request.user))
        return [(environment.pk, str(environment)) for environment in environments]


class SearchChangeList(ChangeList):
    """The list of a search: its page and count come from ``search.page``, which reads the log its
    own way (newest first, whatever column the list is sorted by); the rest is Django's list. A
    page past the matches shows the last one (the search stays); an estimated count reads "about
    N" (``count_is_estimated``, in this model's search_form.html and pagination.html)."""

    count_is_estimated = False

    def get_results(self, request):
        query = search.query_of(self.query)
        if query is None:
            return super().get_results(request)
        if self.page_num < 1:
            raise IncorrectLookupParameters
        offset = (self.page_num - 1) * self.list_per_page
        found = search.page(self.queryset, query, offset, self.list_per_page)
        paginator = self.model_admin.get_paginator(request, self.queryset, self.list_per_page)
        paginator.count, self.count_is_estimated = found.count, found.estimated
        self.page_num = found.offset // self.list_per_page + 1
        self.result_count, self.full_result_count = found.count, None
        self.show_full_result_count, self.show_admin_actions = False, True
        self.result_list, self.paginator = found.entries, paginator
        self.can_show_all, self.multi_page = False, found.count > self.list_per_page


@admin.register(AuditEntry)
class AuditEntryAdmin(RoleAdminMixin, ReadOnlyAdmin):
    """Deleting is refused by a database trigger too. Entries of no project (API tokens): superusers only."""

    list_display = ["at", "actor", "action", "object_type", "object_repr", "where", "short_reason"]
    list_filter = [
        ("at", admin.DateFieldListFilter), ActionFilter, ObjectTypeFilter, ("project", ProjectFilter),
        ("environment", EnvironmentFilter),
    ]  # fmt: skip
    search_fields = SEARCHED_FIELDS  # by words, in SearchChangeList (get_search_results leaves the list)
    search_help_text = search.SYNTAX
    list_select_related = ["project", "environment__project"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "at",
                    "actor",
                    "actor_user",
                    "action",
                    "object_type",
                    "object_id",
                    "object_repr",
                    "project",
                    "environment",
                    "reason",
                    "request_id",
                ]
            },
        ),
        ("What changed", {"fields": ["change_table"]}),
        ("Whole object before and after", {"fields": ["before_json", "after_json"], "classes": ["collapse"]}),
    ]
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]

    def get_actions(self, request):
        return {}

    def get_queryset(self, request):
        """The entries of the projects the person may read; in a search, their ids also compared as
        the search index reads them (``among``): it reads a list of ids, not the roles' subquery."""
        queryset = super().get_queryset(request)
        if not searched(request) or policy.sees_everything(request.user):
            return queryset
        return queryset.filter(among("project", policy.visible_projects(request.user).values_list("pk", flat=True)))

    def get_changelist(self, request, **kwargs):
        return SearchChangeList

    def get_sortable_by(self, request):
        """A search is newest first (audit.search reads the log in that order): no column to sort by."""
        return () if searched(request) else super().get_sortable_by(request)

    def get_search_results(self, request, queryset, search_term):
        """The list as it is: SearchChangeList searches it by words (Django's search, icontains on
        each field, reads every entry for a word few of them have)."""
        return queryset, False

    @admin.display(description="Where", ordering="environment")
    def where(self, entry: AuditEntry) -> str:
        """The environment (``project/environment``), or the project of a change that has none."""
        return str(entry.environment or entry.project or "")

    @admin.display(description="Reason")
    def short_reason(self, entry: AuditEntry) -> str:
        """The first 80 characters; the whole reason on hover (and on the entry's page)."""
        if not entry.reason:
            return ""
        short = entry.reason if len(entry.reason) <= 80 else entry.reason[:79] + "…"
        return format_html('<span class="fp-wrap" title="{}">{}</span>', entry.reason, short)

    @admin.display(description="Changes")
    def change_table(self, entry: AuditEntry) -> str:
        if not entry.changes:
            return "—"
        rows = []
        for field, (old, new) in sorted(entry.changes.items()):
            both_filled = all(isinstance(value, list | dict) and value for value in (old, new))
            diff = changed_lines(old, new) if both_filled else ""
            rows.append((field, as_text(old), as_text(new), diff))
        body = format_html_join(
            "",
            '<tr><th>{}</th><td><pre class="fp-before">{}</pre></td><td><pre class="fp-after">{}</pre>'
            '<pre class="fp-diff">{}</pre></td></tr>',
            rows,
        )
        return format_html(
            '<table class="fp-changes"><thead><tr><th>Field</th><th>Before</th><th>After</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            body,
        )

    @admin.display(description="Before")
    def before_json(self, entry: AuditEntry) -> str:
        return format_html("<pre>{}</pre>", as_text(entry.before)) if entry.before is not None else "—"

    @admin.display(description="After")
    def after_json(self, entry: AuditEntry) -> str:
        return format_html("<pre>{}</pre>", as_text(entry.after)) if entry.after is not None else "—"
