"""Writes to projects, environments and SDK keys, each audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from controlplane.audit.services import Actor, record
from controlplane.documents.services import schedule_rebuild
from controlplane.flags.models import Flag
from controlplane.flags.services import create_initial_states
from controlplane.projects.errors import DuplicateKey
from controlplane.projects.models import Environment, Project, SdkKey
from controlplane.secrets import SDK_SERVER_KEY_PREFIX, find_active, issue_secret


def project_snapshot(project: Project) -> dict[str, Any]:
    return {"key": project.key, "name": project.name, "description": project.description}


# Environments whose flag changes need a reason unless created with require_reason=False.
REASON_REQUIRED_BY_DEFAULT = ("production", "prod")


def environment_snapshot(environment: Environment) -> dict[str, Any]:
    return {
        "key": environment.key,
        "name": environment.name,
        "position": environment.position,
        "require_reason": environment.require_reason,
    }


@transaction.atomic
def create_project(
    actor: Actor,
    *,
    key: str,
    name: str = "",
    description: str = "",
    environments: list[str] | tuple[str, ...] = ("development", "production"),
    reason: str = "",
) -> Project:
    if Project.objects.filter(key=key).exists():
        raise DuplicateKey("key", f"A project {key!r} already exists.")
    project = Project.objects.create(key=key, name=name or key, description=description)
    record(actor, "project.create", project, after=project_snapshot(project), reason=reason, project=project)
    for position, environment_key in enumerate(environments):
        create_environment(project, actor, key=environment_key, position=position, reason=reason)
    return project


@transaction.atomic
def update_project(project: Project, actor: Actor, changes: dict[str, Any], reason: str = "") -> Project:
    if "key" in changes and changes["key"] != project.key:
        raise DuplicateKey("key", "A project's key cannot change: SDK documents and URLs refer to it.")
    before = project_snapshot(project)
    for field in ("name", "description"):
        if field in changes:
            setattr(project, field, changes[field])
    if project_snapshot(project) != before:
        project.save()
        record(
            actor,
            "project.update",
            project,
            before=before,
            after=project_snapshot(project),
            reason=reason,
            project=project,
        )
    return project


@transaction.atomic
def create_environment(
    project: Project,
    actor: Actor,
    *,
    key: str,
    name: str = "",
    position: int | None = None,
    require_reason: bool | None = None,
    reason: str = "",
) -> Environment:
    """Add an environment; every existing flag starts off in it.

    ``require_reason`` defaults to true for an environment called production (or prod).
    """
    if project.environments.filter(key=key).exists():
        raise DuplicateKey("key", f"Project {project.key!r} already has an environment {key!r}.")
    if position is None:
        position = project.environments.count()
    if require_reason is None:
        require_reason = key in REASON_REQUIRED_BY_DEFAULT
    environment = Environment.objects.create(
        project=project, key=key, name=name or key.capitalize(), position=position, require_reason=require_reason
    )
    for flag in Flag.objects.filter(project=project):
        create_initial_states(flag, [environment])
    record(
        actor,
        "environment.create",
        environment,
        after=environment_snapshot(environment),
        reason=reason,
        project=project,
        environment=environment,
    )
    schedule_rebuild([environment.id])
    return environment


@transaction.atomic
def update_environment(
    environment: Environment, actor: Actor, changes: dict[str, Any], reason: str = ""
) -> Environment:
    if "key" in changes and changes["key"] != environment.key:
        raise DuplicateKey("key", "An environment's key cannot change: SDK documents refer to it.")
    before = environment_snapshot(environment)
    for field in ("name", "position", "require_reason"):
        if field in changes:
            setattr(environment, field, changes[field])
    if environment_snapshot(environment) != before:
        environment.save()
        record(
            actor,
            "environment.update",
            environment,
            before=before,
            after=environment_snapshot(environment),
            reason=reason,
            project=environment.project,
            environment=environment,
        )
    return environment


@transaction.atomic
def issue_sdk_key(environment: Environment, actor: Actor, name: str, reason: str = "") -> tuple[SdkKey, str]:
    """Create a server-side SDK key; the plaintext is returned once and never stored."""
    secret = issue_secret(SDK_SERVER_KEY_PREFIX)
    sdk_key = SdkKey.objects.create(
        environment=environment,
        name=name,
        display_prefix=secret.display_prefix,
        digest=secret.digest,
        created_by=actor.user if getattr(actor.user, "pk", None) else None,
    )
    record(
        actor,
        "sdk_key.issue",
        sdk_key,
        after={"name": name, "prefix": sdk_key.display_prefix},
        reason=reason,
        project=environment.project,
        environment=environment,
    )
    return sdk_key, secret.plaintext


@transaction.atomic
def revoke_sdk_key(sdk_key: SdkKey, actor: Actor, reason: str = "") -> SdkKey:
    sdk_key = SdkKey.objects.select_for_update().select_related("environment__project").get(pk=sdk_key.pk)
    if sdk_key.revoked_at is None:
        sdk_key.revoked_at = timezone.now()
        sdk_key.save(update_fields=["revoked_at"])
        record(
            actor,
            "sdk_key.revoke",
            sdk_key,
            before={"revoked": False},
            after={"revoked": True},
            reason=reason,
            project=sdk_key.environment.project,
            environment=sdk_key.environment,
        )
    return sdk_key


def authenticate_sdk_key(plaintext: str) -> SdkKey | None:
    """The active SDK key with this plaintext, or None."""
    if not plaintext.startswith(SDK_SERVER_KEY_PREFIX):
        return None
    return find_active(SdkKey.objects.select_related("environment__project"), plaintext)
