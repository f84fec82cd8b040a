"""The published SDK documents, read-only: what each environment serves, since when, and
whether a committed change is still waiting to be published."""

from __future__ import annotations

import json

from django.contrib import admin
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils.html import format_html

from controlplane.access.admin_mixins import RoleAdminMixin
from controlplane.documents import assembly
from controlplane.documents.models import EnvironmentDocument, PendingChange
from controlplane.documents.services import Publication
from controlplane.readonly_admin import ReadOnlyAdmin


def publication_summary(publication: Publication) -> str:
    """One line a person can act on, e.g. "v42, up to date" or "v42, 3 changes waiting since 12:01:07"."""
    if not publication.version:
        return "not published yet"
    if not publication.behind:
        return f"v{publication.version}, up to date"
    since = publication.behind_since.strftime("%H:%M:%S UTC") if publication.behind_since else "?"
    waiting = f"{publication.pending_changes} change{'s' if publication.pending_changes != 1 else ''} waiting"
    queued = "" if publication.queued else " (the broker was unreachable; the reconciler will publish)"
    return f"v{publication.version}, {waiting} since {since}{queued}"


@admin.register(EnvironmentDocument)
class EnvironmentDocumentAdmin(RoleAdminMixin, ReadOnlyAdmin):
    project_path = "environment__project"
    list_display = ["environment", "version", "built_at", "publication", "etag", "build_ms", "size_display"]
    list_filter = [("environment", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["environment__project"]
    search_fields = ["environment__key", "environment__project__key", "etag"]
    fields = ["environment", "version", "etag", "built_at", "publication", "build_ms", "size_display", "document"]
    readonly_fields = fields

    def get_queryset(self, request):
        pending = PendingChange.objects.filter(environment_id=OuterRef("environment_id"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                pending_changes=Coalesce(
                    Subquery(pending.values("environment_id").annotate(count=Count("id")).values("count")), 0
                ),
                behind_since=Subquery(pending.order_by("created_at").values("created_at")[:1]),
            )
        )

    @admin.display(description="Publication")
    def publication(self, document: EnvironmentDocument) -> str:
        return publication_summary(
            Publication(document.version, document.built_at, document.pending_changes, document.behind_since, True)
        )

    @admin.display(description="Size")
    def size_display(self, document: EnvironmentDocument) -> str:
        size = document.size
        return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KiB"

    @admin.display(description="Document")
    def document(self, document: EnvironmentDocument) -> str:
        assembled = assembly.assemble(document.environment_id)
        if assembled is None:
            return "not published yet"
        text = json.dumps(json.loads(assembled.body), indent=2, ensure_ascii=False)
        return format_html('<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>', text)
