"""POST /api/v1/metrics: an SDK reports a batch of health signals for its key's environment.

The serializers check the wire format's types (docs/metrics.md, "Wire format"): unknown keys are
ignored (newer SDKs may send more); everything listed is checked, and every problem is reported
against its field (nested, as DRF reports it) so an SDK author can see what to fix. The rules a
batch must follow to be counted are ``controlplane.metrics.validation``'s, called here too.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator
from datetime import UTC

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from controlplane.api.authentication import SdkKeyAuthentication
from controlplane.api.permissions import HasSdkKey
from controlplane.metrics import validation
from controlplane.metrics.errors import BatchError
from controlplane.metrics.inbox import InboxFull, ingest_or_park
from controlplane.observability.metrics import METRIC_BATCHES
from flagplane.metrics import UNIT_GROUPS

BATCH_ID = re.compile(r"^[0-9a-fA-F]{8,64}$")


@contextlib.contextmanager
def domain_rules() -> Iterator[None]:
    """A ``BatchError`` of the metrics rules becomes this serializer's field errors."""
    try:
        yield
    except BatchError as exc:
        raise serializers.ValidationError(exc.errors) from exc


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 0})
class CountField(serializers.Field):
    """A non-negative JSON integer (not a bool, a float or a numeric string)."""

    default_error_messages = {
        "invalid": "Must be a non-negative integer.",
        "negative": "Must not be negative.",
        "too_large": "Is too large.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        if data < 0:
            self.fail("negative")
        if data > validation.MAX_COUNT:
            self.fail("too_large")
        return data

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "number", "minimum": 0})
class NumberField(serializers.Field):
    """A finite, non-negative JSON number."""

    default_error_messages = {"invalid": "Must be a finite non-negative number.", "too_large": "Is too large."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float) or not math.isfinite(data) or data < 0:
            self.fail("invalid")
        if data > validation.MAX_NUMBER:
            self.fail("too_large")
        return float(data)

    def to_representation(self, value):
        return value


@extend_schema_field(OpenApiTypes.DATETIME)
class Rfc3339Field(serializers.Field):
    """An RFC 3339 timestamp with an explicit offset ("…Z" or "…+02:00"), returned as aware UTC."""

    default_error_messages = {
        "invalid": 'Must be an RFC 3339 timestamp with a time zone, e.g. "2026-01-31T12:00:00.000Z".',
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            moment = parse_datetime(data.strip())
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None or "T" not in data.upper():
            self.fail("invalid")
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is past the year 9999 in UTC
            self.fail("invalid")

    def to_representation(self, value):
        return value.isoformat()


class EntriesField(serializers.ListField):
    """The batch's entries, capped at METRICS_MAX_ENTRIES before any entry is validated."""

    def to_internal_value(self, data):
        limit = settings.METRICS_MAX_ENTRIES
        if isinstance(data, list) and len(data) > limit:
            raise serializers.ValidationError(f"Too many entries: at most {limit} per batch, got {len(data)}.")
        return super().to_internal_value(data)


class SdkSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    version = serializers.CharField(max_length=50)


class PeriodSerializer(serializers.Serializer):
    start = Rfc3339Field()
    end = Rfc3339Field()

    def validate(self, attrs):
        with domain_rules():
            validation.check_period(attrs["start"], attrs["end"], timezone.now())
        return attrs


class LatencySerializer(serializers.Serializer):
    bounds = serializers.ListField(child=NumberField(), min_length=1, max_length=64)
    counts = serializers.ListField(child=CountField(), min_length=1, max_length=65)
    sum = NumberField()

    def validate(self, attrs):
        with domain_rules():
            validation.standard_counts(attrs["bounds"], attrs["counts"])
        return attrs


class UnitsSerializer(serializers.Serializer):
    """Health signals per unit group (wire format 2): parallel arrays, one item per group."""

    groups = serializers.IntegerField()
    group = serializers.ListField(child=serializers.IntegerField(), max_length=UNIT_GROUPS)
    successes = serializers.ListField(child=CountField(), max_length=UNIT_GROUPS)
    errors = serializers.ListField(child=CountField(), max_length=UNIT_GROUPS)
    latency_counts = serializers.ListField(
        child=serializers.ListField(child=CountField(), max_length=65), max_length=UNIT_GROUPS
    )

    def validate(self, attrs):
        with domain_rules():
            validation.check_unit_groups(attrs)
        return attrs


class FlagEntrySerializer(serializers.Serializer):
    flag = serializers.CharField(max_length=200)
    variant = serializers.CharField(max_length=200)
    evaluations = CountField()
    successes = CountField()
    errors = CountField()
    latency_ms = LatencySerializer(required=False)
    units = UnitsSerializer(required=False)

    def validate(self, attrs):
        latency = attrs.get("latency_ms")
        if latency is not None:
            with domain_rules():
                validation.check_observations(latency["counts"], attrs["successes"], attrs["errors"])
        units = attrs.get("units")
        if units is not None:
            with domain_rules():
                validation.unit_latencies(units, latency, attrs["successes"], attrs["errors"])
        return attrs


class MetricsBatchSerializer(serializers.Serializer):
    format = serializers.IntegerField(required=False, default=1)
    sdk = SdkSerializer()
    batch_id = serializers.RegexField(
        BATCH_ID, error_messages={"invalid": "Must be 8 to 64 hexadecimal characters (e.g. uuid4().hex)."}
    )
    document_version = serializers.IntegerField(min_value=0, allow_null=True, required=False, default=None)
    period = PeriodSerializer()
    flags = EntriesField(child=FlagEntrySerializer(), allow_empty=True)
    dropped = CountField(required=False, default=0)

    def validate_batch_id(self, value: str) -> str:
        return value.lower()

    def validate(self, attrs):
        with domain_rules():
            validation.check_format(attrs["format"], any("units" in entry for entry in attrs["flags"]))
        return attrs


class MetricsIngestView(APIView):
    """Count a metrics batch (docs/metrics.md) in the SDK key's environment; retries are no-ops."""

    authentication_classes = [SdkKeyAuthentication]
    permission_classes = [HasSdkKey]

    @extend_schema(
        request=MetricsBatchSerializer,
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
        batch = MetricsBatchSerializer(data=request.data)
        try:
            if not batch.is_valid():
                raise ValidationError(batch.errors)
            # The environment is the key's, never one named in the body.
            result = ingest_or_park(request.auth.environment_id, batch.validated_data)
        except (ValidationError, BatchError):
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
