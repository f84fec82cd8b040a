"""POST /api/v1/metrics: an SDK reports a batch of health signals for its key's environment.

The body is read by ``controlplane.metrics.wire`` (types and rules, every problem reported against
its field, nested like the body); this module only describes it for the OpenAPI schema.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from controlplane.api.authentication import SdkKeyAuthentication
from controlplane.api.parsers import EMPTY_BODY, JSONBody, JSONBodyParser
from controlplane.api.permissions import HasSdkKey
from controlplane.api.schema import documented
from controlplane.metrics.errors import BatchError, InboxFull
from controlplane.metrics.inbox import ingest_or_park
from controlplane.metrics.validation import MAX_BOUNDS, MAX_KEY, MAX_SDK_NAME, MAX_SDK_VERSION
from controlplane.metrics.wire import BATCH_ID
from controlplane.observability.metrics import METRIC_BATCHES
from flagplane.gcpause import gc_paused
from flagplane.metrics import UNIT_GROUPS


def _object(required: list[str], **properties: dict) -> dict:
    return {"type": "object", "properties": properties, "required": required}


def _array(items: dict, **limits: int) -> dict:
    return {"type": "array", "items": items, **limits}


_COUNT = {"type": "integer", "format": "int64", "minimum": 0}
_NUMBER = {"type": "number", "minimum": 0}
_TIMESTAMP = {"type": "string", "format": "date-time"}


def _text(max_length: int) -> dict:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


BATCH_SCHEMA = _object(
    ["sdk", "batch_id", "period", "flags"],
    format={"type": "integer", "default": 1},
    sdk=_object(["name", "version"], name=_text(MAX_SDK_NAME), version=_text(MAX_SDK_VERSION)),
    batch_id={"type": "string", "minLength": 1, "pattern": BATCH_ID.pattern},
    document_version={"type": "integer", "minimum": 0, "nullable": True},
    period=_object(["start", "end"], start=_TIMESTAMP, end=_TIMESTAMP),
    flags=_array(
        _object(
            ["flag", "variant", "evaluations", "successes", "errors"],
            flag=_text(MAX_KEY),
            variant=_text(MAX_KEY),
            evaluations=_COUNT,
            successes=_COUNT,
            errors=_COUNT,
            latency_ms=_object(
                ["bounds", "counts", "sum"],
                bounds=_array(_NUMBER, minItems=1, maxItems=MAX_BOUNDS),
                counts=_array(_COUNT, minItems=1, maxItems=MAX_BOUNDS + 1),
                sum=_NUMBER,
            ),
            units={
                **_object(
                    ["groups", "group", "successes", "errors", "latency_counts"],
                    groups={"type": "integer"},
                    group=_array({"type": "integer"}, maxItems=UNIT_GROUPS),
                    successes=_array(_COUNT, maxItems=UNIT_GROUPS),
                    errors=_array(_COUNT, maxItems=UNIT_GROUPS),
                    latency_counts=_array(_array(_COUNT, maxItems=MAX_BOUNDS + 1), maxItems=UNIT_GROUPS),
                ),
                "description": "Health signals per unit group (wire format 2): parallel arrays, one item per group.",
            },
        )
    ),
    dropped={**_COUNT, "default": 0},
)
"""The batch as docs/metrics-wire-format.md defines it (``wire.read_batch`` is what checks it)."""


@documented("metrics", post="Report a batch of health signals (SDK key)")
class MetricsIngestView(APIView):
    """Count a metrics batch (docs/metrics.md) in the SDK key's environment; retries are no-ops."""

    authentication_classes = [SdkKeyAuthentication]
    permission_classes = [HasSdkKey]
    parser_classes = [JSONBodyParser]

    @extend_schema(
        request={"application/json": BATCH_SCHEMA},
        responses={
            202: inline_serializer(
                "MetricsAccepted",
                {
                    "accepted": serializers.IntegerField(),
                    "duplicate": serializers.BooleanField(),
                    "queued": serializers.BooleanField(),
                },
            ),
            400: OpenApiResponse(description="Field-level validation errors; nothing was stored"),
            503: OpenApiResponse(description="Neither PostgreSQL nor the Redis inbox took the batch (Retry-After)"),
        },
    )
    def post(self, request):
        try:
            # A batch of 10,000 series is some 100,000 objects and no garbage cycles: the cyclic
            # collector's passes over them would cost more than parsing and reading them (the
            # SDK's reason too).
            with gc_paused():
                body = request.data if isinstance(request.data, JSONBody) else EMPTY_BODY
                # The environment is the key's, never one named in the body.
                result = ingest_or_park(request.auth.environment_id, body.value, body.text)
        except BatchError:
            METRIC_BATCHES.labels("rejected").inc()
            raise
        except InboxFull:
            return Response(
                {"detail": "Metrics storage is unavailable; retry this batch later."},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": "5"},
            )
        return Response(
            {"accepted": result.accepted, "duplicate": result.duplicate, "queued": result.queued},
            status=status.HTTP_202_ACCEPTED,
        )
