"""``/healthz`` and ``/readyz`` for load balancers and Kubernetes probes: unauthenticated, tiny
answers, no detail about what failed (that goes to the log). Routed by
``controlplane.observability.middleware.OperationalEndpointsMiddleware`` ahead of the host check,
because probes address the pod by IP."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from controlplane.health.checks import alive, readiness


def _answer(ok: bool) -> JsonResponse:
    response = JsonResponse({"status": "ok" if ok else "unavailable"}, status=200 if ok else 503)
    response["Cache-Control"] = "no-store"
    return response


def healthz(request: HttpRequest) -> JsonResponse:
    return _answer(alive())


def readyz(request: HttpRequest) -> JsonResponse:
    response = _answer(readiness().ready)
    # readiness() logged the failed check as a warning; Django's own "Service Unavailable" error
    # line for every probe of a pod that is waiting for a dependency would only be noise.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response
