"""Admin for API tokens: issue (the plaintext is shown once) and revoke, through accounts.services."""

from __future__ import annotations

from django.contrib import admin

from controlplane.accounts import services
from controlplane.accounts.forms import ApiTokenForm
from controlplane.accounts.models import ApiToken
from controlplane.audit.services import Actor
from controlplane.secret_admin import IssuedSecretAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(IssuedSecretAdmin):
    form = ApiTokenForm
    add_fields = ["user", "name", "scope", "reason"]
    list_display = ["name", "user", "scope", "display_prefix", "status", "created_at", "last_used_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter), "user"]
    list_select_related = ["user"]
    search_fields = ["name", "display_prefix", "user__username"]
    readonly_fields = ["name", "user", "scope", "display_prefix", "status", "created_at", "revoked_at", "last_used_at"]

    def secret_name(self, token: ApiToken) -> str:
        return f"API token ({token.get_scope_display().lower()}) for {token.user.get_username()}"

    def revoke_one(self, token: ApiToken, actor: Actor) -> None:
        services.revoke_api_token(token, actor, reason="revoked in the admin")

    def get_changeform_initial_data(self, request):
        return {"user": request.user.pk, **super().get_changeform_initial_data(request)}
