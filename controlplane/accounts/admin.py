"""Admin for API tokens: issue (the plaintext is shown once) and revoke, through accounts.services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse

from controlplane.accounts import services
from controlplane.accounts.forms import ApiTokenForm
from controlplane.accounts.models import ApiToken
from controlplane.audit.forms import AuditedAdminMixin
from controlplane.audit.services import Actor


@admin.register(ApiToken)
class ApiTokenAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ["name", "user", "scope", "display_prefix", "status", "created_at", "last_used_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter), "user"]
    list_select_related = ["user"]
    search_fields = ["name", "display_prefix", "user__username"]
    actions = ["revoke"]
    readonly_fields = ["name", "user", "scope", "display_prefix", "status", "created_at", "revoked_at", "last_used_at"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name", "scope", "reason"]
        return self.readonly_fields  # never the digest

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_changeform_initial_data(self, request):
        return {"user": request.user.pk, **super().get_changeform_initial_data(request)}

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a token is issued or revoked, never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: the audit log refers to it

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("accounts.change_apitoken")

    @admin.display(description="Status")
    def status(self, token: ApiToken) -> str:
        return "active" if token.revoked_at is None else f"revoked {token.revoked_at:%Y-%m-%d %H:%M}"

    def response_add(self, request, obj, post_url_continue=None):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"API token {obj.name} issued",
            "subtitle": None,
            "secret_name": f"API token ({obj.get_scope_display().lower()}) for {obj.user.get_username()}",
            "plaintext": obj.plaintext,
            "issued": obj,
            "list_url": reverse("admin:accounts_apitoken_changelist"),
        }
        return TemplateResponse(request, "admin/secret_issued.html", context)

    @admin.action(description="Revoke selected API tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        actor = Actor.for_user(request.user)
        active = [token for token in queryset if token.revoked_at is None]
        for token in active:
            services.revoke_api_token(token, actor, reason="revoked in the admin")
        self.message_user(request, f"Revoked {len(active)} API token(s).", messages.SUCCESS)
