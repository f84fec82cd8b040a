"""Secrets shown once and stored hashed: SDK keys and API tokens share this scheme (and their rows
share one abstract model, ``secret_models.Credential``).

A secret looks like ``fp_srv_<random>`` (server-side SDK key) or ``fp_api_<random>`` (API token):
the prefix tells at a glance what a leaked string is. Only a SHA-256 of the whole secret is
stored; the random part has 256 bits, so a fast hash is enough (no password stretching needed).
"""

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from django.db import models
from django.utils import timezone

SDK_SERVER_KEY_PREFIX = "fp_srv_"
SDK_CLIENT_KEY_PREFIX = "fp_cli_"  # client-side: OFREP evaluation only, safe in a web page
API_TOKEN_PREFIX = "fp_api_"
# Writing last_used_at on every request would turn every read into a write; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)

if TYPE_CHECKING:  # importing a model needs Django's apps loaded; the prefixes above must not
    from controlplane.secret_models import Credential

Issued = TypeVar("Issued", bound="Credential")


class IssuedSecret(NamedTuple):
    plaintext: str
    display_prefix: str
    digest: str


def issue_secret(prefix: str) -> IssuedSecret:
    plaintext = prefix + secrets.token_urlsafe(32)
    return IssuedSecret(plaintext, plaintext[: len(prefix) + 6], hash_secret(plaintext))


def hash_secret(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def find_active(queryset: models.QuerySet[Issued], plaintext: str) -> Issued | None:
    """The unrevoked row of ``queryset`` issued for ``plaintext``, its ``last_used_at`` refreshed."""
    found = queryset.filter(digest=hash_secret(plaintext), revoked_at__isnull=True).first()
    if found is not None:
        now = timezone.now()
        if found.last_used_at is None or now - found.last_used_at > LAST_USED_RESOLUTION:
            queryset.model._default_manager.filter(pk=found.pk).update(last_used_at=now)
    return found
