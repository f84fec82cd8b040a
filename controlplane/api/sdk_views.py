"""Endpoints for SDKs, authenticated by an SDK key that belongs to exactly one environment."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.views import APIView

from controlplane.api.authentication import SdkKeyAuthentication
from controlplane.api.etags import etag_matches
from controlplane.api.permissions import HasSdkKey
from controlplane.documents import cache
from controlplane.documents.services import served_document


class SdkConfigView(APIView):
    """The SDK document of the key's environment (docs/sdk-document.md)."""

    authentication_classes = [SdkKeyAuthentication]
    permission_classes = [HasSdkKey]

    @extend_schema(
        parameters=[OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER)],
        responses={
            200: OpenApiResponse(description="The document (JSON)"),
            304: OpenApiResponse(description="Unchanged"),
        },
    )
    def get(self, request):
        document = cache.get(request.auth.environment_uid) or served_document(request.auth.environment_id)
        etag, body = document.etag, document.body
        if etag_matches(request.headers.get("If-None-Match"), etag):
            response = HttpResponse(status=304)
        else:
            response = HttpResponse(body, content_type="application/json")
        response["ETag"] = etag
        response["Cache-Control"] = "no-cache"
        return response
