"""OFREP over HTTP (docs/ofrep.md): thin plain-Django views over ``controlplane.ofrep``; the
permission is the key check. Mounted at /ofrep/v1/ (OFREP's own paths, not the REST API's).

``evaluate/flags/{key}`` (POST), ``evaluate/flags`` (POST, ETag and If-None-Match -> 304),
``configuration`` (GET, ETag). CORS: a preflight is answered for origins some environment allows;
the request itself only for its key's environment's origins. Limits: ``THROTTLE_OFREP`` per
server key, or per client-side key and client address; wrong keys in the shared
``THROTTLE_AUTH_FAILURES`` bucket of the client's address.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from controlplane import ratelimit
from controlplane.accounts.lockout import client_address
from controlplane.etags import etag_matches
from controlplane.ofrep import cors, evaluation
from controlplane.ofrep.access import Access, authenticate, origin_allowed_anywhere, presented_key
from controlplane.ofrep.errors import BadRequest
from controlplane.ofrep.snapshots import snapshot_of


def _json(status: int, body: dict[str, Any] | None = None) -> HttpResponse:
    content = b"" if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    response = HttpResponse(content, status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    return response


def _too_many(wait_s: float, why: str) -> HttpResponse:
    response = _json(429, {"errorDetails": why})
    response["Retry-After"] = str(ratelimit.retry_after(wait_s))
    return response


def _bucket_of(request: HttpRequest, access: Access) -> str:
    """A server key has one budget; a client-side key, shipped to every visitor, one per address."""
    if access.key_id.startswith("cli-"):
        return f"ofrep:{access.key_id}:{client_address(request) or 'unknown'}"
    return f"ofrep:{access.key_id}"


def _failures_of(request: HttpRequest) -> str:
    return f"auth-failures:{client_address(request) or 'unknown'}"  # the REST API's bucket too


def _preflight(request: HttpRequest) -> HttpResponse:
    origin = request.headers.get("Origin")
    headers = cors.preflight_headers(origin, bool(origin) and origin_allowed_anywhere(origin))
    if headers is None:
        return HttpResponse(status=403)  # no Access-Control-Allow-Origin: the browser refuses
    response = HttpResponse(status=204)
    for name, value in headers.items():
        response[name] = value
    return response


def ofrep_view(methods: tuple[str, ...]) -> Callable[..., Any]:
    """Answers the preflight, authenticates the key, applies the limits and CORS, then calls the
    view with the caller's ``Access``."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        def wrapped(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method == "OPTIONS":
                return _preflight(request)
            if request.method not in methods:
                response = _json(405, {"errorDetails": f"use {' or '.join(methods)}"})
                response["Allow"] = ", ".join((*methods, "OPTIONS"))
                return response
            buckets = ratelimit.shared_buckets()
            failing = buckets.wait(_failures_of(request), settings.THROTTLE_AUTH_FAILURES)
            if failing > 0:
                return _too_many(failing, "too many wrong keys from your address")
            plaintext = presented_key(request)
            access = authenticate(plaintext) if plaintext else None
            if access is None:
                buckets.take(_failures_of(request), settings.THROTTLE_AUTH_FAILURES)
                response = _json(401, {"errorDetails": "an SDK key (fp_srv_…) or client-side key (fp_cli_…) is needed"})
                response["WWW-Authenticate"] = 'Bearer realm="flagplane-ofrep"'
                return response
            origin = request.headers.get("Origin")
            if cors.origin_refused(origin, access):
                return _json(403, {"errorDetails": f"origin {origin} is not allowed for this key's environment"})
            wait_s = buckets.take(_bucket_of(request, access), settings.THROTTLE_OFREP)
            if wait_s > 0:
                return _too_many(wait_s, "this key's rate limit is reached; retry later")
            response = view(request, access, **kwargs)
            for name, value in cors.response_headers(origin).items():
                response[name] = value
            return response

        return wrapped

    return decorate


def _bad_request(exc: BadRequest, key: str | None = None) -> HttpResponse:
    body: dict[str, Any] = {"errorCode": exc.code, "errorDetails": exc.details}
    if key is not None:
        body = {"key": key, **body}
    return _json(400, body)


def _body_of(request: HttpRequest) -> bytes:
    """At most one byte over the body limit, read from the stream: ``request.body`` would read a
    body of any length up to Django's DATA_UPLOAD_MAX_MEMORY_SIZE."""
    return request.read(evaluation.MAX_BODY_BYTES + 1)


@ofrep_view(("POST",))
def evaluate_flag(request: HttpRequest, access: Access, key: str) -> HttpResponse:
    try:
        context = evaluation.parse_context(_body_of(request))
    except BadRequest as exc:
        return _bad_request(exc, key)
    answer = evaluation.evaluate_flag(snapshot_of(access.environment), key, context, access.client_side_only)
    return _json(answer.status, answer.body)


@ofrep_view(("POST",))
def evaluate_flags(request: HttpRequest, access: Access) -> HttpResponse:
    try:
        context = evaluation.parse_context(_body_of(request))
    except BadRequest as exc:
        return _bad_request(exc)
    snapshot = snapshot_of(access.environment)
    etag = evaluation.bulk_etag(snapshot, context, access.client_side_only)
    if etag_matches(request.headers.get("If-None-Match"), etag):
        response = HttpResponse(status=304)
    else:
        response = _json(200, evaluation.evaluate_all(snapshot, context, access.client_side_only))
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache"
    return response


@ofrep_view(("GET",))
def configuration(request: HttpRequest, access: Access) -> HttpResponse:
    etag = evaluation.configuration_etag()
    response = HttpResponse(status=304) if etag_matches(request.headers.get("If-None-Match"), etag) else None
    response = response or _json(200, evaluation.configuration())
    response["ETag"] = etag
    return response


urlpatterns = [
    path("evaluate/flags/<str:key>", evaluate_flag, name="ofrep-evaluate-flag"),
    path("evaluate/flags", evaluate_flags, name="ofrep-evaluate-flags"),
    path("configuration", configuration, name="ofrep-configuration"),
]
