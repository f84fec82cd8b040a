"""Issuing, revoking and checking API tokens."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from controlplane.accounts.errors import TokenRefused
from controlplane.accounts.models import ApiToken
from controlplane.audit import actions as audit_actions
from controlplane.audit.services import Actor, record
from controlplane.projects.models import Project
from controlplane.secrets import API_TOKEN_PREFIX, find_active, issue_secret


@transaction.atomic
def issue_api_token(
    user: User,
    actor: Actor,
    *,
    name: str,
    scope: str = ApiToken.Scope.READ,
    project: Project | None = None,
    reason: str = "",
) -> tuple[ApiToken, str]:
    """Create a token for ``user`` (for ``project`` only, if given); the plaintext is returned once and never stored.

    Only a superuser (or the system) may issue a token for someone else: the token acts as its
    user, so anyone else could otherwise get a token that acts as a superuser.
    """
    if scope not in ApiToken.Scope.values:
        raise ValueError(f"scope must be one of {ApiToken.Scope.values}")
    issuer = actor.user
    if issuer is not None and not issuer.is_superuser and issuer.pk != user.pk:
        raise TokenRefused({"user": ["Only a superuser may issue a token for someone else."]})
    secret = issue_secret(API_TOKEN_PREFIX)
    token = ApiToken.objects.create(
        user=user, name=name, scope=scope, project=project, display_prefix=secret.display_prefix, digest=secret.digest
    )
    after = {"name": name, "scope": scope, "user": user.get_username(), "project": project.key if project else None}
    record(actor, audit_actions.API_TOKEN_ISSUE, token, after=after, reason=reason, project=project)
    return token, secret.plaintext


@transaction.atomic
def revoke_api_token(token: ApiToken, actor: Actor, reason: str = "") -> ApiToken:
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    token.revoke(actor, audit_actions.API_TOKEN_REVOKE, reason)
    return token


def authenticate_api_token(plaintext: str) -> ApiToken | None:
    if not plaintext.startswith(API_TOKEN_PREFIX):
        return None
    return find_active(ApiToken.objects.select_related("user", "project").filter(user__is_active=True), plaintext)
