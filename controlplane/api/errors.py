"""Every API error is one JSON shape (docs/api.md, "Errors"): ``{"detail": "...", "code": "..."}``,
plus, for a 400 about fields, one key per field path with its messages
(``{"rules.0.clauses.1.op": ["Unknown operator ..."]}``) and, for a 412, ``current_version``.

Domain errors (``controlplane.errors``) map to 400/409/412 here; DRF's own (401, 403, 404, 405,
413, 415, 429) get the same shape; anything else is logged and becomes a 500 in that shape, so no
input ever produces a traceback page.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import DataError, IntegrityError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from controlplane.errors import Conflict, FieldErrors, PreconditionFailed

logger = logging.getLogger(__name__)

CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
}


def error_body(status_code: int, detail: str, code: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, "code": code or CODES.get(status_code, "error"), **extra}


def field_errors_body(errors: Any) -> dict[str, Any]:
    """A 400 about fields: ``detail`` and ``code``, then the field errors as they were, one key per
    field (a dotted path from the domain, or nested like the body from a serializer)."""
    if not isinstance(errors, dict):
        errors = {"non_field_errors": errors if isinstance(errors, list) else [errors]}
    summary = "; ".join(f"{path}: {_words(messages)}" for path, messages in errors.items())
    return {**error_body(400, summary[:1000] or "Invalid input."), **errors}


def _words(messages: Any) -> str:
    if isinstance(messages, list) and all(isinstance(message, str) for message in messages):
        return " ".join(messages)
    return "see this field"


def exception_handler(exc, context):
    response = _domain_response(exc, context)
    if response is not None:
        return response
    if isinstance(exc, ObjectDoesNotExist):
        exc = exceptions.NotFound()
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled error in %s", context["request"].path, exc_info=exc)
        return Response(error_body(500, "Something went wrong on our side; nothing was saved."), status=500)
    if isinstance(exc, exceptions.ValidationError):
        response.data = field_errors_body(response.data)
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        code = getattr(detail, "code", None)
        response.data = error_body(response.status_code, str(detail) or str(exc), code)
    return response


def _domain_response(exc, context) -> Response | None:
    if isinstance(exc, FieldErrors):
        return Response(field_errors_body(exc.errors), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, PreconditionFailed):
        return Response(error_body(412, str(exc), current_version=exc.current_version), status=412)
    if isinstance(exc, Conflict):
        return Response(error_body(409, str(exc)), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DataError):
        # A value the validation let through but PostgreSQL cannot store (a NUL character in
        # text or JSON, say); the write's transaction was rolled back.
        logger.warning("The database refused a value in %s: %s", context["request"].path, exc)
        detail = "A value cannot be stored (out of range, or text with a NUL character); nothing was saved."
        return Response(error_body(400, detail), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError):
        # The services check keys before creating; two requests creating the same key at once
        # both pass that check, and the database's unique constraint refuses the second.
        logger.info("A write lost a race on a unique constraint in %s: %s", context["request"].path, exc)
        detail = "This conflicts with a change made at the same time (the same key created twice?)."
        return Response(error_body(409, detail), status=status.HTTP_409_CONFLICT)
    return None
