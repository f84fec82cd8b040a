"""Roles in the admin: a project's admins grant and revoke them; each change is audited."""

from __future__ import annotations

from django.contrib import admin

from controlplane.access import services
from controlplane.access.admin_mixins import RoleAdminMixin
from controlplane.access.models import RoleAssignment
from controlplane.admin_forms import ServiceModelForm
from controlplane.audit.services import Actor
from controlplane.service_admin import ServiceAdmin


class RoleAssignmentForm(ServiceModelForm):
    class Meta:
        model = RoleAssignment
        fields = ["user", "project", "environment", "role"]


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(RoleAdminMixin, ServiceAdmin, admin.ModelAdmin):
    """Who has which role where. Members of a project see its roles; its admins change them."""

    write_action = "project.manage"
    form = RoleAssignmentForm
    list_display = ["user", "role", "project", "environment", "created_at"]
    list_filter = ["role", ("project", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["user", "project", "environment"]
    search_fields = ["user__username", "project__key"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # revoke and grant again: every change is one audit entry

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.allows(request, self.write_action, obj)

    def get_fields(self, request, obj=None):
        shown = ["user", "project", "environment", "role"]
        return [*shown, "reason"] if obj is None else shown

    def get_readonly_fields(self, request, obj=None):
        return ["user", "project", "environment", "role"] if obj else []

    def write(self, form: RoleAssignmentForm, actor: Actor, reason: str) -> RoleAssignment:
        data = form.cleaned_data
        return services.grant_role(
            data["project"], data["user"], data["role"], actor, environment=data["environment"], reason=reason
        )

    def delete_model(self, request, obj: RoleAssignment) -> None:
        services.revoke_role(obj, Actor.for_user(request.user), reason="revoked in the admin")
