"""Who may do what: one function, ``can``, for the REST API, the admin and its actions.

A person has roles per project (``RoleAssignment``), each for the whole project or for one of its
environments. ``is_staff`` grants nothing by itself (it only lets a person open the admin); a
superuser may do everything. An API token acts with its user's roles, narrowed by its scope (a
``read`` token does no write) and, if it names one, to one project.

Every operation is one of the ``ACTIONS`` below: the roles that may do it, whether it writes, and
whether an environment-narrowed role counts (for what happens in one environment: targeting, a
rollout, an SDK key) or only a role in the whole project does (flags and segments are shared by
every environment; so are the project's settings). Reading needs any role in the project.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from controlplane.access.models import Role, RoleAssignment
from controlplane.projects.models import Environment, Project

EVERYONE = frozenset(Role.values)
EDITORS = frozenset({Role.EDITOR, Role.ADMIN})
APPROVERS = frozenset({Role.APPROVER, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})


@dataclass(frozen=True)
class Action:
    name: str
    roles: frozenset[str]
    writes: bool
    per_environment: bool
    covers: str

    @property
    def superuser_only(self) -> bool:
        return not self.roles


ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        Action("project.read", EVERYONE, False, True, "see the project: flags, segments, environments, "
               "targeting, rollouts and their decisions, previews, the project's audit entries"),
        Action("flag.write", EDITORS, True, False, "create, change and archive flags; create, change and "
               "delete segments"),
        Action("targeting.write", EDITORS, True, True, "change a flag's targeting in an environment; turn it "
               "on or off there"),
        Action("rollout.write", EDITORS, True, True, "create, change and delete rollout plans of an "
               "environment; start, pause, resume, promote, roll back and cancel them"),
        Action("rollout.approve", APPROVERS, True, True, "approve a rollout stage that waits for a person"),
        Action("sdk_key.read", ADMINS, False, True, "list an environment's SDK keys"),
        Action("sdk_key.manage", ADMINS, True, True, "issue and revoke an environment's SDK keys"),
        Action("webhook.read", ADMINS, False, False, "see the project's webhooks and their deliveries (their "
               "URLs may hold a secret)"),
        Action("project.manage", ADMINS, True, False, "change the project, add and change environments, "
               "manage webhooks (and retry deliveries), grant and revoke roles"),
        Action("project.create", frozenset(), True, False, "create a project (superusers only)"),
    )
}  # fmt: skip


def can(user, action: str, project: Project | None, environment: Environment | None = None, token=None) -> bool:
    """Whether ``user`` (through ``token``, if given) may do ``action`` in ``project`` (and ``environment``)."""
    return refusal(user, action, project, environment, token) is None


def refusal(user, action: str, project: Project | None, environment: Environment | None = None, token=None):
    """None if allowed, else why not, in words the caller can show."""
    rule = ACTIONS[action]
    if user is None or not user.is_authenticated or not user.is_active:
        return "Sign in first."
    if token is not None:
        if rule.writes and not token.can_write:
            return "This API token is read-only; writes need a token with the write scope."
        if token.project_id is not None and (project is None or project.pk != token.project_id):
            return f"This API token is for project {token.project.key!r} only."
    if user.is_superuser:
        return None
    if rule.superuser_only or project is None:
        return f"Only a superuser may {rule.covers.removesuffix(' (superusers only)')}."
    held = roles_of(user, project, environment, any_environment=action == "project.read", rule=rule)
    if held & rule.roles:
        return None
    needed = " or ".join(sorted(rule.roles))
    where = f"project {project.key!r}" + (f", environment {environment.key!r}" if environment else "")
    have = ", ".join(sorted(held)) or "no role"
    return f"This needs the {needed} role in {where}; you have {have} there."


def roles_of(user, project: Project, environment: Environment | None, *, any_environment: bool, rule: Action):
    """The roles ``user`` holds that count for ``rule`` in ``project`` (and ``environment``)."""
    assignments = RoleAssignment.objects.filter(user=user, project=project)
    if not any_environment:
        if rule.per_environment and environment is not None:
            assignments = assignments.filter(Q(environment__isnull=True) | Q(environment=environment))
        else:
            assignments = assignments.filter(environment__isnull=True)
    return frozenset(assignments.values_list("role", flat=True))


def visible_projects(user, token=None) -> QuerySet[Project]:
    """The projects ``user`` (through ``token``) may read."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    projects = Project.objects.all()
    if not user.is_superuser:
        projects = projects.filter(role_assignments__user=user).distinct()
    if token is not None and token.project_id is not None:
        projects = projects.filter(pk=token.project_id)
    return projects


def sees_everything(user, token=None) -> bool:
    """A superuser not narrowed to a project: also sees what belongs to no project (tokens' audit entries)."""
    return bool(user and user.is_authenticated and user.is_superuser and (token is None or token.project_id is None))


def projects_where(user, action: str, token=None) -> QuerySet[Project]:
    """The projects where ``user`` may do ``action`` somewhere (in the project or one of its environments)."""
    rule = ACTIONS[action]
    projects = visible_projects(user, token)
    if token is not None and rule.writes and not token.can_write:
        return projects.none()
    if user is None or not user.is_authenticated or user.is_superuser:
        return projects
    held = RoleAssignment.objects.filter(user=user, role__in=rule.roles)
    if not rule.per_environment:
        held = held.filter(environment__isnull=True)
    return projects.filter(pk__in=held.values("project"))
