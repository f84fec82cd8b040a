"""Rate limits of the REST API: per token or person, per address when anonymous, per SDK key for
reports, and wrong credentials per address (``controlplane/ratelimit.py`` keeps the buckets).

Requests an SDK makes with a GET (``/sdk/config``) are not counted here: the SDK edge in front of
Django applies its own per-key limits to them.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions, throttling
from rest_framework.request import Request

from controlplane import ratelimit
from controlplane.accounts.lockout import client_address
from controlplane.accounts.models import ApiToken
from controlplane.projects.sdk_keys import KeyInfo


class RequestRateThrottle(throttling.BaseThrottle):
    """One bucket per caller: an SDK key (writes only), an API token, a signed-in person, an address."""

    def allow_request(self, request: Request, view) -> bool:
        bucket = self.bucket_of(request)
        if bucket is None:
            return True
        key, limit = bucket
        self._wait = ratelimit.shared_buckets().take(key, limit)
        return self._wait == 0

    def bucket_of(self, request: Request) -> tuple[str, ratelimit.Limit] | None:
        auth, user = request.auth, request.user
        if isinstance(auth, KeyInfo):
            if request.method == "GET":
                return None
            return f"sdk-key:{auth.id}", settings.THROTTLE_SDK_METRICS
        if isinstance(auth, ApiToken):
            return f"api-token:{auth.pk}", settings.THROTTLE_API
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}", settings.THROTTLE_API
        return f"anonymous:{client_address(request) or 'unknown'}", settings.THROTTLE_ANONYMOUS

    def wait(self) -> float:
        return float(ratelimit.retry_after(self._wait))


def refuse_while_failing(request: Request) -> None:
    """429 before a credential is even looked at, while this address has used up its failures."""
    wait_s = ratelimit.shared_buckets().wait(_failures_of(request), settings.THROTTLE_AUTH_FAILURES)
    if wait_s > 0:
        raise exceptions.Throttled(
            wait=ratelimit.retry_after(wait_s), detail="Too many wrong credentials from your address."
        )


def count_failure(request: Request) -> None:
    ratelimit.shared_buckets().take(_failures_of(request), settings.THROTTLE_AUTH_FAILURES)


def _failures_of(request: Request) -> str:
    return f"auth-failures:{client_address(request) or 'unknown'}"
