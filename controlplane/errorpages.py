"""Django's error pages, as JSON under /api/ (the API's one error shape) and as HTML elsewhere.

The REST API's views answer their own errors (``api/errors.py``); these cover what happens before
a view runs or outside one: an unknown URL, a malformed request, a crash in a middleware.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def _json(status: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status)


def bad_request(request: HttpRequest, exception: Exception, *args, **kwargs):
    if request.path.startswith(API_PREFIX):
        return _json(400, "The request is malformed.", "invalid")
    return defaults.bad_request(request, exception, *args, **kwargs)


def permission_denied(request: HttpRequest, exception: Exception, *args, **kwargs):
    if request.path.startswith(API_PREFIX):
        return _json(403, "You may not do this.", "permission_denied")
    return defaults.permission_denied(request, exception, *args, **kwargs)


def page_not_found(request: HttpRequest, exception: Exception, *args, **kwargs):
    if request.path.startswith(API_PREFIX):
        return _json(404, "Not found.", "not_found")
    return defaults.page_not_found(request, exception, *args, **kwargs)


def server_error(request: HttpRequest, *args, **kwargs):
    if request.path.startswith(API_PREFIX):
        return _json(500, "Something went wrong on our side; nothing was saved.", "server_error")
    return defaults.server_error(request, *args, **kwargs)
