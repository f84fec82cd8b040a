"""The built SDK documents, read-only: they are written only by the document builder."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from controlplane.access.admin_mixins import RoleAdminMixin
from controlplane.documents.models import EnvironmentDocument
from controlplane.readonly_admin import ReadOnlyAdmin


@admin.register(EnvironmentDocument)
class EnvironmentDocumentAdmin(RoleAdminMixin, ReadOnlyAdmin):
    project_path = "environment__project"
    list_display = ["environment", "version", "etag", "built_at", "build_ms", "size"]
    list_filter = [("environment", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["environment__project"]
    search_fields = ["environment__key", "environment__project__key", "etag"]
    fields = ["environment", "version", "etag", "built_at", "build_ms", "size", "content_digest", "document"]
    readonly_fields = fields

    @admin.display(description="Size")
    def size(self, document: EnvironmentDocument) -> str:
        size = len(document.body.encode())
        return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KiB"

    @admin.display(description="Document")
    def document(self, document: EnvironmentDocument) -> str:
        try:
            text = json.dumps(json.loads(document.body), indent=2, ensure_ascii=False)
        except ValueError:
            text = document.body
        return format_html('<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>', text)
