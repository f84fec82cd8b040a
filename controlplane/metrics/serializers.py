"""Strict validation of a metrics batch (docs/metrics.md, "Wire format").

Unknown keys are ignored (newer SDKs may send more); everything listed here is checked, and
every problem is reported against its field so an SDK author can see what to fix.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from controlplane.metrics.histogram import BoundsError, to_standard

# Per entry and batch; far above any real traffic, and sums stay far from bigint overflow.
MAX_COUNT = 10**12
MAX_NUMBER = 1e18
BATCH_ID = re.compile(r"^[0-9a-fA-F]{8,64}$")


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
        if data > MAX_COUNT:
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
        if data > MAX_NUMBER:
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
        if attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": "Must not be before start."})
        now = timezone.now()
        skew = timedelta(seconds=settings.METRICS_MAX_CLOCK_SKEW_SECONDS)
        if attrs["end"] > now + skew:
            raise serializers.ValidationError(
                {"end": f"Is more than {skew.total_seconds():g} s in the future; check the SDK host's clock."}
            )
        oldest = now - timedelta(hours=settings.METRICS_BATCH_RETENTION_HOURS)
        if attrs["end"] < oldest:
            # Older batches could no longer be recognised as retries (their ids are pruned).
            raise serializers.ValidationError(
                {"end": f"Is older than {settings.METRICS_BATCH_RETENTION_HOURS} hours; too late to count."}
            )
        return attrs


class LatencySerializer(serializers.Serializer):
    bounds = serializers.ListField(child=NumberField(), min_length=1, max_length=64)
    counts = serializers.ListField(child=CountField(), min_length=1, max_length=65)
    sum = NumberField()

    def validate(self, attrs):
        bounds, counts = attrs["bounds"], attrs["counts"]
        if len(counts) != len(bounds) + 1:
            raise serializers.ValidationError(
                {"counts": f"Must have {len(bounds) + 1} entries (one per bound plus overflow), got {len(counts)}."}
            )
        try:
            attrs["standard_counts"] = to_standard(bounds, counts)
        except BoundsError as exc:
            raise serializers.ValidationError({"bounds": str(exc)}) from exc
        return attrs


class FlagEntrySerializer(serializers.Serializer):
    flag = serializers.CharField(max_length=200)
    variant = serializers.CharField(max_length=200)
    evaluations = CountField()
    successes = CountField()
    errors = CountField()
    latency_ms = LatencySerializer(required=False)

    def validate(self, attrs):
        latency = attrs.get("latency_ms")
        if latency is not None and sum(latency["counts"]) > attrs["successes"] + attrs["errors"]:
            raise serializers.ValidationError(
                {"latency_ms": "The histogram holds more observations than successes + errors."}
            )
        return attrs


class MetricsBatchSerializer(serializers.Serializer):
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
