"""The API's JSON parser: bounded size (413) and nesting (400); broken JSON is a 400 too.

A ``BaseParser``, not a ``JSONParser``: DRF hands JSONParser and FormParser subclasses
``request.body``, which Django refuses over its global DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB, the
admin's and OFREP's bound too). This parser reads the request stream itself, at most
API_MAX_BODY_BYTES of it, so the API's limit is its own and the only one an API body meets.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers, renderers, status

from controlplane import jsonlimits


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The body is too large."
    default_code = "too_large"


@dataclass(frozen=True, slots=True)
class JSONBody:
    """A JSON body decoded (``value``) and as text (``text``, UTF-8): the bytes as sent, or, for a
    body in another charset, its text encoded as UTF-8. (No field is called ``data``: DRF would
    take the body for a form's.)"""

    value: Any
    text: bytes


EMPTY_BODY = JSONBody({}, b"{}")
"""What DRF's ``request.data`` is without a body (it does not call the parser then)."""


class BoundedJSONParser(parsers.BaseParser):
    media_type = "application/json"
    renderer_class = renderers.JSONRenderer

    def parse(self, stream, media_type=None, parser_context=None):
        return read_body(stream, parser_context).value


class JSONBodyParser(BoundedJSONParser):
    """``BoundedJSONParser`` whose ``request.data`` is a ``JSONBody``: for a view that keeps the
    text as it came (the metrics inbox parks it rather than encoding the value again)."""

    def parse(self, stream, media_type=None, parser_context=None):
        return read_body(stream, parser_context)


def read_body(stream: Any, parser_context: dict[str, Any] | None) -> JSONBody:
    limit = settings.API_MAX_BODY_BYTES
    raw = stream.read(limit + 1) if stream is not None else b""
    if len(raw) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes (API_MAX_BODY_BYTES).")
    encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
    try:
        text = raw.decode(encoding)
        utf8 = raw if codecs.lookup(encoding).name == "utf-8" else text.encode("utf-8")
        return JSONBody(jsonlimits.loads(text), utf8)
    except (UnicodeError, LookupError):
        raise exceptions.ParseError(f"The body is not {encoding} text.") from None
    except ValueError as exc:
        raise exceptions.ParseError(f"The body is not JSON we accept: {exc}.") from None
