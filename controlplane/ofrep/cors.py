"""CORS for OFREP as plain data: the headers a preflight and a request get, and when a request is
refused. No framework here, so the Django view and an ASGI edge answer browsers the same way.

A preflight carries no key, so it is answered for an origin that some environment allows; the
request that follows carries the key, and gets ``Access-Control-Allow-Origin`` only if its key's
environment lists the origin (server keys list none: they never work from a browser).
"""

from __future__ import annotations

from controlplane.ofrep.access import Access

ALLOWED_HEADERS = "Authorization, Content-Type, X-API-Key, If-None-Match"
PREFLIGHT_MAX_AGE_S = 600


def preflight_headers(origin: str | None, allowed_somewhere: bool) -> dict[str, str] | None:
    """Headers of a 204 answer to a preflight, or None: answer 403 without CORS headers."""
    if not origin or not allowed_somewhere:
        return None
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
        "Vary": "Origin",
    }


def origin_refused(origin: str | None, access: Access) -> bool:
    """A browser request (it has an Origin) from an origin the key's environment does not list."""
    return origin is not None and origin.lower() not in access.origins


def response_headers(origin: str | None) -> dict[str, str]:
    """CORS headers of an answer to an allowed request (none without an Origin)."""
    if origin is None:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": "ETag, Retry-After",
        "Vary": "Origin",
    }
