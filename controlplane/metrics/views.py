"""POST /api/v1/metrics: an SDK reports a batch of health signals for its key's environment."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from controlplane.api.authentication import SdkKeyAuthentication
from controlplane.api.permissions import HasSdkKey
from controlplane.metrics.serializers import MetricsBatchSerializer
from controlplane.metrics.services import ingest_batch
from controlplane.observability.metrics import METRIC_BATCHES


class MetricsIngestView(APIView):
    """Count a metrics batch (docs/metrics.md) in the SDK key's environment; retries are no-ops."""

    authentication_classes = [SdkKeyAuthentication]
    permission_classes = [HasSdkKey]

    @extend_schema(
        request=MetricsBatchSerializer,
        responses={
            202: inline_serializer(
                "MetricsAccepted",
                {"accepted": serializers.IntegerField(), "duplicate": serializers.BooleanField()},
            ),
            400: OpenApiResponse(description="Field-level validation errors; nothing was stored"),
        },
    )
    def post(self, request):
        batch = MetricsBatchSerializer(data=request.data)
        if not batch.is_valid():
            METRIC_BATCHES.labels("rejected").inc()
            raise ValidationError(batch.errors)
        # The environment is the key's, never one named in the body.
        result = ingest_batch(request.auth.environment, batch.validated_data)
        return Response({"accepted": result.accepted, "duplicate": result.duplicate}, status=status.HTTP_202_ACCEPTED)
