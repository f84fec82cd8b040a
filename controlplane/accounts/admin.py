"""Admin for API tokens: issue (the plaintext is shown once) and revoke, through accounts.services."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model

from controlplane.access import policy
from controlplane.accounts import services
from controlplane.accounts.forms import ApiTokenForm
from controlplane.accounts.models import ApiToken
from controlplane.audit.services import Actor
from controlplane.secret_admin import IssuedSecretAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(IssuedSecretAdmin):
    form = ApiTokenForm
    add_fields = ["user", "name", "scope", "project", "reason"]
    list_display = ["name", "user", "scope", "project", "display_prefix", "status", "created_at", "last_used_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user", "project"]
    search_fields = ["name", "display_prefix", "user__username"]
    readonly_fields = [
        "name", "user", "scope", "project", "display_prefix", "status", "created_at", "revoked_at", "last_used_at"
    ]  # fmt: skip

    # A person sees and revokes their own tokens; a superuser everyone's. A token acts with its
    # user's roles (controlplane.access.policy), so issuing one grants nothing new.
    def has_module_permission(self, request) -> bool:
        return request.user.is_active

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and (obj is None or self.may_revoke(request, obj))

    def has_add_permission(self, request) -> bool:
        return request.user.is_active

    def has_revoke_permission(self, request) -> bool:
        return request.user.is_active

    def may_revoke(self, request, token: ApiToken) -> bool:
        return request.user.is_superuser or token.user_id == request.user.pk

    def get_queryset(self, request):
        tokens = super().get_queryset(request)
        return tokens if request.user.is_superuser else tokens.filter(user=request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = get_user_model().objects.filter(pk=request.user.pk)
        if db_field.name == "project":
            kwargs["queryset"] = policy.visible_projects(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def issue(self, form: ApiTokenForm, actor: Actor, reason: str) -> tuple[ApiToken, str]:
        data = form.cleaned_data
        return services.issue_api_token(
            data["user"], actor, name=data["name"], scope=data["scope"], project=data.get("project"), reason=reason
        )

    def secret_name(self, token: ApiToken) -> str:
        return f"API token ({token.get_scope_display().lower()}) for {token.user.get_username()}"

    def revoke_one(self, token: ApiToken, actor: Actor) -> None:
        services.revoke_api_token(token, actor, reason="revoked in the admin")

    def get_changeform_initial_data(self, request):
        return {"user": request.user.pk, **super().get_changeform_initial_data(request)}
