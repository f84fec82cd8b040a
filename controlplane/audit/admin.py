"""The audit log in the admin: read-only, filterable, with each change shown as before/after."""

from __future__ import annotations

import difflib
import json
from typing import Any

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from controlplane.access.admin_mixins import RoleAdminMixin
from controlplane.audit.models import AuditEntry
from controlplane.readonly_admin import ReadOnlyAdmin


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def changed_lines(before: Any, after: Any) -> str:
    """A line diff of two JSON values, for lists and objects too long to compare by eye."""
    lines = difflib.unified_diff(as_text(before).splitlines(), as_text(after).splitlines(), lineterm="", n=2)
    return "\n".join(line for line in lines if not line.startswith(("---", "+++")))


@admin.register(AuditEntry)
class AuditEntryAdmin(RoleAdminMixin, ReadOnlyAdmin):
    """Deleting is refused by a database trigger too. Entries of no project (API tokens): superusers only."""

    list_display = ["at", "actor", "action", "object_type", "object_repr", "where", "short_reason"]
    list_filter = [
        "action", "object_type", ("project", admin.RelatedOnlyFieldListFilter),
        ("environment", admin.RelatedOnlyFieldListFilter),
    ]  # fmt: skip
    date_hierarchy = "at"
    search_fields = ["actor", "object_repr", "object_id", "reason"]
    list_select_related = ["project", "environment__project"]
    show_full_result_count = False
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
                ]
            },
        ),
        ("What changed", {"fields": ["change_table"]}),
        ("Whole object before and after", {"fields": ["before_json", "after_json"], "classes": ["collapse"]}),
    ]
    readonly_fields = [name for _, options in fieldsets for name in options["fields"]]

    def get_actions(self, request):
        return {}

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
