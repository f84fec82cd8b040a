"""Domain errors (``controlplane.errors``) become HTTP answers with field-level messages; nothing is half-saved."""

from __future__ import annotations

import logging

from django.core.exceptions import ObjectDoesNotExist
from django.db import DataError, IntegrityError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from controlplane.errors import Conflict, FieldErrors, PreconditionFailed

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    if isinstance(exc, FieldErrors):
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, PreconditionFailed):
        return Response(
            {"detail": str(exc), "current_version": exc.current_version},
            status=status.HTTP_412_PRECONDITION_FAILED,
        )
    if isinstance(exc, Conflict):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DataError):
        # A value the validation let through but PostgreSQL cannot store (a NUL character in
        # text or JSON, say); the write's transaction was rolled back.
        logger.warning("The database refused a value in %s: %s", context["request"].path, exc)
        return Response(
            {"detail": "A value cannot be stored (out of range, or text with a NUL character); nothing was saved."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, IntegrityError):
        # The services check keys before creating; two requests creating the same key at once
        # both pass that check, and the database's unique constraint refuses the second.
        logger.info("A write lost a race on a unique constraint in %s: %s", context["request"].path, exc)
        return Response(
            {"detail": "This conflicts with a change made at the same time (the same key created twice?)."},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, ObjectDoesNotExist):
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    return drf_exception_handler(exc, context)
