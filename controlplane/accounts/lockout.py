"""Sign-in lockout (django-axes): whose address counts, and the page a locked-out person sees."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from controlplane import ratelimit


def client_address(request: HttpRequest) -> str | None:
    """The address lockouts and rate limits count by (``TRUSTED_PROXY_COUNT`` proxies trusted);
    None for a request that came from no address (``force_login`` in tests)."""
    return ratelimit.client_address(
        request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR"), settings.TRUSTED_PROXY_COUNT
    )


def locked_out(request: HttpRequest, response: HttpResponse | None = None, credentials: dict | None = None):
    """429 with Retry-After, on a page that says how long and who can unlock it sooner."""
    wait_s = settings.AXES_COOLOFF_TIME.total_seconds()
    page = render(
        request,
        "accounts/locked_out.html",
        {
            **admin.site.each_context(request),
            "title": "Too many failed sign-ins",
            "minutes": max(1, round(wait_s / 60)),
        },
        status=429,
    )
    page["Retry-After"] = str(ratelimit.retry_after(wait_s))
    return page
