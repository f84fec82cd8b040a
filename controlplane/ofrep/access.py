"""Who may evaluate through OFREP, and from which web origins.

Server-side SDK keys (``fp_srv_…``) evaluate every flag of their environment and are never
allowed from a browser (no CORS headers). Client-side keys (``fp_cli_…``) evaluate only the
flags marked "available to client-side" unless issued otherwise, from pages on the origins of
their environment's allow-list. The key is read from ``Authorization: Bearer …`` or
``X-API-Key`` (the OFREP document's two security schemes).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

from controlplane.projects import sdk_keys
from controlplane.projects.models import Environment
from controlplane.projects.services import authenticate_client_key
from controlplane.secrets import SDK_CLIENT_KEY_PREFIX


@dataclass(frozen=True, slots=True)
class Access:
    environment: Environment
    key_id: str
    """Names the key for rate limits (kind and row id), never the secret."""
    client_side_only: bool
    origins: frozenset[str]
    """Origins a browser may call from; empty for server keys."""


def presented_key(request: HttpRequest) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("X-API-Key", "").strip() or None


def authenticate(plaintext: str) -> Access | None:
    if plaintext.startswith(SDK_CLIENT_KEY_PREFIX):
        client_key = authenticate_client_key(plaintext)
        if client_key is None:
            return None
        environment = client_key.environment
        return Access(
            environment,
            f"cli-{client_key.pk}",
            client_key.client_side_flags_only,
            frozenset(environment.client_side_origins),
        )
    sdk_key = sdk_keys.authenticate(plaintext)
    if sdk_key is None:
        return None
    environment = Environment.objects.select_related("project").get(pk=sdk_key.environment_id)
    return Access(environment, f"srv-{sdk_key.id}", False, frozenset())


def origin_allowed_anywhere(origin: str) -> bool:
    """For CORS preflights, which carry no key: whether any environment lists ``origin``. The
    request that follows is checked against its own key's environment."""
    return Environment.objects.filter(client_side_origins__contains=[origin.lower()]).exists()
