"""The admin asks ``access.policy`` too: a ModelAdmin's view, add, change and delete permissions,
its list and its form's project, environment and flag choices all come from the person's roles.

A ModelAdmin names where its objects' project (and environment) are, the action that reading them
is and the one that writing them is; Django's model permissions (``view_flag``...) are not used.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from controlplane.access import policy
from controlplane.access.models import RoleAssignment
from controlplane.projects.models import Environment, Project


def follow(obj, path: str):
    """``follow(plan, "flag__project")`` is ``plan.flag.project``; an empty path is ``obj`` itself."""
    for name in filter(None, path.split("__")):
        obj = getattr(obj, name)
    return obj


def environments_where(user, action: str) -> QuerySet[Environment]:
    """The environments where ``user`` may do ``action`` (every environment of a project-wide role)."""
    rule = policy.ACTIONS[action]
    projects = policy.projects_where(user, action)
    environments = Environment.objects.filter(project__in=projects)
    if user.is_superuser:
        return environments
    held = RoleAssignment.objects.filter(user=user, role__in=rule.roles)
    whole_projects = held.filter(environment__isnull=True).values("project")
    if not rule.per_environment:
        return environments.filter(project__in=whole_projects)
    return environments.filter(Q(project__in=whole_projects) | Q(pk__in=held.values("environment")))


class RoleAdminMixin:
    project_path = "project"
    """From the model to its project (``"flag__project"``; ``""`` for a Project)."""
    environment_path: str | None = None
    """From the model to its environment, for objects that live in one (an SDK key, a plan)."""
    read_action = "project.read"
    write_action: str | None = None
    """None: nobody writes these in the admin (the system does)."""
    add_action: str | None = None
    """What adding one is, if not ``write_action`` (a project: ``project.create``)."""

    def scope_of(self, obj) -> tuple[Project, Environment | None]:
        environment = follow(obj, self.environment_path) if self.environment_path else None
        return follow(obj, self.project_path), environment

    def allows(self, request, action: str | None, obj=None) -> bool:
        """May the person do ``action`` to ``obj`` (to one at least, without ``obj``)?"""
        if action is None:
            return False
        if obj is None:
            return request.user.is_superuser or policy.projects_where(request.user, action).exists()
        return policy.can(request.user, action, *self.scope_of(obj))

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.allows(request, self.read_action, obj)

    def has_add_permission(self, request, *args) -> bool:
        return self.allows(request, self.add_action or self.write_action)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.allows(request, self.write_action, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_change_permission(request, obj)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if policy.sees_everything(request.user):
            return queryset
        readable = policy.visible_projects(request.user)
        return queryset.filter(**{f"{self.project_path}__in" if self.project_path else "pk__in": readable})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        from controlplane.flags.models import Flag

        action = self.add_action or self.write_action
        if action is not None and not request.user.is_superuser:
            if db_field.related_model is Project:
                kwargs["queryset"] = policy.projects_where(request.user, action)
            elif db_field.related_model is Environment:
                kwargs["queryset"] = environments_where(request.user, action)
            elif db_field.related_model is Flag:
                kwargs["queryset"] = Flag.objects.filter(project__in=policy.projects_where(request.user, action))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
