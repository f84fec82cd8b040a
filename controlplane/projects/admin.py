"""Admin for projects, environments and SDK keys. Writes go through controlplane.projects.services.

An issued SDK key's plaintext is shown once, on the page that answers the "add" form, and is kept
nowhere: not in the database, the session or a message cookie.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from controlplane.access import policy
from controlplane.access.admin_mixins import RoleAdminMixin, environments_where
from controlplane.audit.services import Actor
from controlplane.documents.admin import publication_summary
from controlplane.documents.services import publication_of
from controlplane.projects import services
from controlplane.projects.forms import ClientKeyForm, EnvironmentForm, ProjectForm, SdkKeyForm
from controlplane.projects.models import ClientKey, Environment, Project, SdkKey
from controlplane.secret_admin import IssuedSecretAdmin
from controlplane.service_admin import ServiceAdmin


class EnvironmentInline(admin.TabularInline):
    """The project's environments at a glance; they are added and edited on their own page."""

    model = Environment
    fields = ["environment_link", "name", "position", "require_reason", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Key")
    def environment_link(self, environment: Environment) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:projects_environment_change", args=[environment.pk]), environment.key
        )


@admin.register(Project)
class ProjectAdmin(RoleAdminMixin, ServiceAdmin, admin.ModelAdmin):
    project_path = ""
    write_action = "project.manage"
    add_action = "project.create"
    form = ProjectForm
    list_display = ["key", "name", "environment_keys", "created_at"]
    search_fields = ["key", "name", "description"]
    inlines = [EnvironmentInline]

    def get_inlines(self, request, obj=None):
        return self.inlines if obj else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["key", "name", "description", "environments", "reason"]
        return ["key", "name", "description", "reason"]

    def get_readonly_fields(self, request, obj=None):
        return ["key"] if obj else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # flags, keys and history hang off a project

    def write(self, form: ProjectForm, actor: Actor, reason: str) -> Project:
        data = form.cleaned_data
        if form.instance.pk is None:
            return services.create_project(
                actor,
                key=data["key"],
                name=data["name"],
                description=data["description"],
                environments=data["environments"],
                reason=reason,
            )
        changes = {"name": data["name"] or form.instance.key, "description": data["description"]}
        return services.update_project(form.instance, actor, changes, reason)

    @admin.display(description="Environments")
    def environment_keys(self, project: Project) -> str:
        return ", ".join(environment.key for environment in project.environments.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("environments")


@admin.register(Environment)
class EnvironmentAdmin(RoleAdminMixin, ServiceAdmin, admin.ModelAdmin):
    write_action = "project.manage"
    form = EnvironmentForm
    list_display = ["__str__", "name", "project", "position", "require_reason", "sdks_have", "created_at"]
    list_filter = [("project", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["project"]
    search_fields = ["key", "name", "project__key"]

    @admin.display(description="SDKs have")
    def sdks_have(self, environment: Environment) -> str:
        return publication_summary(publication_of([environment.id])[environment.id])

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["project", "key", "name", "position", "require_reason", "reason"]
        return ["project", "key", "name", "position", "require_reason", "client_side_origins", "reason"]

    def get_readonly_fields(self, request, obj=None):
        return ["project", "key"] if obj else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def write(self, form: EnvironmentForm, actor: Actor, reason: str) -> Environment:
        data = form.cleaned_data
        if form.instance.pk is None:
            return services.create_environment(
                data["project"],
                actor,
                key=data["key"],
                name=data["name"],
                position=data["position"],
                require_reason=data.get("require_reason"),
                reason=reason,
            )
        changes = {
            "name": data["name"] or form.instance.key.capitalize(),
            "position": data["position"],
            "require_reason": data["require_reason"],
            "client_side_origins": data["client_side_origins"],
        }
        return services.update_environment(form.instance, actor, changes, reason)


@admin.register(SdkKey)
class SdkKeyAdmin(RoleAdminMixin, IssuedSecretAdmin):
    project_path = "environment__project"
    environment_path = "environment"
    read_action = "sdk_key.read"
    write_action = "sdk_key.manage"
    form = SdkKeyForm
    add_fields = ["environment", "name", "reason"]
    list_display = ["name", "environment", "display_prefix", "status", "created_by", "created_at", "last_used_at"]
    list_filter = [("environment", admin.RelatedOnlyFieldListFilter), ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["environment__project", "created_by"]
    search_fields = ["name", "display_prefix"]
    readonly_fields = [
        "name",
        "environment",
        "display_prefix",
        "status",
        "created_by",
        "created_at",
        "revoked_at",
        "last_used_at",
    ]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # issued, then revoked: never edited

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_revoke_permission(self, request) -> bool:
        return self.allows(request, self.write_action)

    def may_revoke(self, request, sdk_key: SdkKey) -> bool:
        return policy.can(request.user, self.write_action, *self.scope_of(sdk_key))

    def get_queryset(self, request):
        environments = environments_where(request.user, self.read_action)
        return super().get_queryset(request).filter(environment__in=environments)

    def issue(self, form: SdkKeyForm, actor: Actor, reason: str) -> tuple[SdkKey, str]:
        return services.issue_sdk_key(form.cleaned_data["environment"], actor, form.cleaned_data["name"], reason)

    def secret_name(self, sdk_key: SdkKey) -> str:
        return f"SDK key for {sdk_key.environment}"

    def revoke_one(self, sdk_key: SdkKey, actor: Actor) -> None:
        services.revoke_sdk_key(sdk_key, actor, reason="revoked in the admin")


@admin.register(ClientKey)
class ClientKeyAdmin(SdkKeyAdmin):
    """Client-side keys: the same roles (an environment's admins) and the same issue-once page."""

    form = ClientKeyForm
    add_fields = ["environment", "name", "client_side_flags_only", "reason"]
    list_display = ["name", "environment", "display_prefix", "client_side_flags_only", "status", "last_used_at"]
    readonly_fields = [
        "name",
        "environment",
        "display_prefix",
        "client_side_flags_only",
        "status",
        "created_by",
        "created_at",
        "revoked_at",
        "last_used_at",
    ]

    def issue(self, form: ClientKeyForm, actor: Actor, reason: str) -> tuple[ClientKey, str]:
        data = form.cleaned_data
        return services.issue_client_key(
            data["environment"], actor, data["name"], client_side_flags_only=data["client_side_flags_only"],
            reason=reason,
        )  # fmt: skip

    def secret_name(self, client_key: ClientKey) -> str:
        return f"Client-side key for {client_key.environment} (OFREP only; safe in a web page)"

    def revoke_one(self, client_key: ClientKey, actor: Actor) -> None:
        services.revoke_client_key(client_key, actor, reason="revoked in the admin")
