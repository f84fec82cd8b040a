"""The API's JSON parser: bounded size (413) and nesting (400); broken JSON is a 400 too.

A ``BaseParser``, not a ``JSONParser``: DRF hands JSONParser and FormParser subclasses
``request.body``, which Django refuses over its global DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB, the
admin's and OFREP's bound too). This parser reads the request stream itself, at most
API_MAX_BODY_BYTES of it, so the API's limit is its own and the only one an API body meets.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions, parsers, renderers, status

from controlplane import jsonlimits


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The body is too large."
    default_code = "too_large"


class BoundedJSONParser(parsers.BaseParser):
    media_type = "application/json"
    renderer_class = renderers.JSONRenderer

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
