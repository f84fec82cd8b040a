"""Writes to projects, environments and SDK keys, each audited."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.db import transaction

from controlplane.audit import actions as audit_actions
from controlplane.audit.services import Actor, record
from controlplane.documents.services import schedule_rebuild
from controlplane.errors import FieldErrors
from controlplane.flags.models import Flag
from controlplane.flags.services import create_initial_states
from controlplane.projects import sdk_keys
from controlplane.projects.errors import DuplicateKey
from controlplane.projects.models import ClientKey, Environment, Project, SdkKey
from controlplane.secrets import SDK_CLIENT_KEY_PREFIX, SDK_SERVER_KEY_PREFIX, find_active, issue_secret


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
        "client_side_origins": list(environment.client_side_origins),
    }


def normalize_origins(origins: Any) -> list[str]:
    """Web origins as browsers send them (``scheme://host[:port]``, no path), lower-cased, unique."""
    if not isinstance(origins, list | tuple):
        raise FieldErrors({"client_side_origins": ["A list of origins like https://app.example.com."]})
    errors: dict[str, list[str]] = {}
    cleaned: list[str] = []
    for index, origin in enumerate(origins):
        parts = urlsplit(origin.strip().lower()) if isinstance(origin, str) else None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or parts.username
        ):
            errors[f"client_side_origins.{index}"] = [
                "An origin is scheme://host[:port] with no path, e.g. https://app.example.com."
            ]
            continue
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in cleaned:
            cleaned.append(origin)
    if errors:
        raise FieldErrors(errors)
    return cleaned


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
    record(
        actor, audit_actions.PROJECT_CREATE, project, after=project_snapshot(project), reason=reason, project=project
    )
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
            audit_actions.PROJECT_UPDATE,
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
        audit_actions.ENVIRONMENT_CREATE,
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
    if "client_side_origins" in changes:
        environment.client_side_origins = normalize_origins(changes["client_side_origins"])
    if environment_snapshot(environment) != before:
        environment.save()
        record(
            actor,
            audit_actions.ENVIRONMENT_UPDATE,
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
        created_by=actor.user_or_none,
    )
    record(
        actor,
        audit_actions.SDK_KEY_ISSUE,
        sdk_key,
        after={"name": name, "prefix": sdk_key.display_prefix},
        reason=reason,
        project=environment.project,
        environment=environment,
    )
    sdk_keys.announce_issued(sdk_key)
    return sdk_key, secret.plaintext


@transaction.atomic
def revoke_sdk_key(sdk_key: SdkKey, actor: Actor, reason: str = "") -> SdkKey:
    sdk_key = SdkKey.objects.select_for_update().select_related("environment__project").get(pk=sdk_key.pk)
    filed_under = {"project": sdk_key.environment.project, "environment": sdk_key.environment}
    if sdk_key.revoke(actor, audit_actions.SDK_KEY_REVOKE, reason, **filed_under):
        sdk_keys.announce_revoked(sdk_key)
    return sdk_key


@transaction.atomic
def issue_client_key(
    environment: Environment, actor: Actor, name: str, *, client_side_flags_only: bool = True, reason: str = ""
) -> tuple[ClientKey, str]:
    """Create a client-side key (OFREP evaluation only); the plaintext is returned once."""
    secret = issue_secret(SDK_CLIENT_KEY_PREFIX)
    client_key = ClientKey.objects.create(
        environment=environment,
        name=name,
        display_prefix=secret.display_prefix,
        digest=secret.digest,
        client_side_flags_only=client_side_flags_only,
        created_by=actor.user_or_none,
    )
    record(
        actor,
        audit_actions.CLIENT_KEY_ISSUE,
        client_key,
        after={"name": name, "prefix": client_key.display_prefix, "client_side_flags_only": client_side_flags_only},
        reason=reason,
        project=environment.project,
        environment=environment,
    )
    return client_key, secret.plaintext


@transaction.atomic
def revoke_client_key(client_key: ClientKey, actor: Actor, reason: str = "") -> ClientKey:
    client_key = ClientKey.objects.select_for_update().select_related("environment__project").get(pk=client_key.pk)
    filed_under = {"project": client_key.environment.project, "environment": client_key.environment}
    client_key.revoke(actor, audit_actions.CLIENT_KEY_REVOKE, reason, **filed_under)
    return client_key


def authenticate_client_key(plaintext: str) -> ClientKey | None:
    """The active client-side key with this plaintext, or None."""
    if not plaintext.startswith(SDK_CLIENT_KEY_PREFIX):
        return None
    return find_active(ClientKey.objects.select_related("environment__project"), plaintext)
