"""Middleware: operational endpoints ahead of everything, then a request id and one log line per request."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from controlplane.health.views import healthz, readyz
from controlplane.observability import context
from controlplane.observability.exposition import metrics_view

logger = logging.getLogger("controlplane.request")

OPERATIONAL_ENDPOINTS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": healthz,
    "/readyz": readyz,
    "/metrics": metrics_view,
}


class OperationalEndpointsMiddleware:
    """``/healthz``, ``/readyz`` and ``/metrics``, answered before any other middleware.

    Kubernetes probes and Prometheus address a pod by its IP, which is not in ALLOWED_HOSTS;
    these answers depend on no host, session or user, so they skip the host check (and the
    request log: a probe every few seconds is noise).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        endpoint = OPERATIONAL_ENDPOINTS.get(request.path_info)
        if endpoint is not None and request.method in ("GET", "HEAD"):
            return endpoint(request)
        return self.get_response(request)


class RequestIdMiddleware:
    """Binds a request id (the caller's ``X-Request-ID`` if sensible, else a new one) for the log
    lines and the Celery tasks of this request, returns it in ``X-Request-ID``, and logs the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = context.new_request_id(request.headers.get("X-Request-ID"))
        token = context.request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            user = getattr(request, "user", None)
            logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "user": user.get_username() if user is not None and user.is_authenticated else "",
                },
            )
            return response
        finally:
            context.request_id.reset(token)
