"""Granting and revoking roles: audited writes, like every other write."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from controlplane.access.errors import RoleError
from controlplane.access.models import Role, RoleAssignment
from controlplane.audit import actions as audit_actions
from controlplane.audit.services import Actor, record
from controlplane.projects.models import Environment, Project


def assignment_snapshot(assignment: RoleAssignment) -> dict[str, Any]:
    return {
        "user": assignment.user.get_username(),
        "role": assignment.role,
        "environment": assignment.environment.key if assignment.environment else None,
    }


@transaction.atomic
def grant_role(
    project: Project,
    user: User,
    role: str,
    actor: Actor,
    *,
    environment: Environment | None = None,
    reason: str = "",
) -> RoleAssignment:
    """Give ``user`` ``role`` in ``project`` (in ``environment`` only, if given); granting it again changes nothing."""
    if role not in Role.values:
        raise RoleError({"role": [f"One of: {', '.join(Role.values)}."]})
    if environment is not None and environment.project_id != project.pk:
        raise RoleError({"environment": [f"{environment.key!r} is not an environment of {project.key!r}."]})
    assignment, created = RoleAssignment.objects.get_or_create(
        user=user, project=project, environment=environment, role=role
    )
    if created:
        record(
            actor,
            audit_actions.ROLE_GRANT,
            assignment,
            after=assignment_snapshot(assignment),
            reason=reason,
            project=project,
            environment=environment,
        )
    return assignment


@transaction.atomic
def revoke_role(assignment: RoleAssignment, actor: Actor, reason: str = "") -> None:
    record(
        actor,
        audit_actions.ROLE_REVOKE,
        assignment,
        before=assignment_snapshot(assignment),
        reason=reason,
        project=assignment.project,
        environment=assignment.environment,
    )
    assignment.delete()
