"""The API's JSON parser: bounded size (413) and nesting (400); broken JSON is a 400 too."""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions, parsers, status

from controlplane import jsonlimits


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The body is too large."
    default_code = "too_large"


class BoundedJSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The body is larger than {limit} bytes (API_MAX_BODY_BYTES).")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return jsonlimits.loads(raw.decode(encoding))
        except (UnicodeDecodeError, LookupError):
            raise exceptions.ParseError(f"The body is not {encoding} text.") from None
        except ValueError as exc:
            raise exceptions.ParseError(f"The body is not JSON we accept: {exc}.") from None
