"""Serving the metrics: ``/metrics`` in the web process, a small HTTP server in a Celery worker.

Who may read them (METRICS_ENDPOINT_TOKEN, METRICS_ENDPOINT_NETWORKS): a request with
``Authorization: Bearer <token>`` when a token is set, or one whose peer address is in one of the
networks (by default only this host). Anything else gets a bare 403. The peer is the direct
client: behind a proxy it is the proxy, so give Prometheus the token there.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.exposition import ThreadingWSGIServer

logger = logging.getLogger(__name__)


def access_allowed(authorization: str, peer: str) -> bool:
    token = settings.METRICS_ENDPOINT_TOKEN
    if token and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ENDPOINT_NETWORKS)


def registry() -> CollectorRegistry:
    """This process's metrics, or (PROMETHEUS_MULTIPROC_DIR set) those of every process writing there."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not access_allowed(request.headers.get("Authorization", ""), request.META.get("REMOTE_ADDR", "")):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    response = HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


def _wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ.get("PATH_INFO") != "/metrics":
        status, headers, body = "404 Not Found", [("Content-Type", "text/plain")], b"Not found\n"
    elif not access_allowed(environ.get("HTTP_AUTHORIZATION", ""), environ.get("REMOTE_ADDR", "")):
        status, headers, body = "403 Forbidden", [("Content-Type", "text/plain")], b"Forbidden\n"
    else:
        status, headers, body = "200 OK", [("Content-Type", CONTENT_TYPE_LATEST)], generate_latest(registry())
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_metrics(bind: str) -> ThreadingWSGIServer:
    """Serve ``/metrics`` on ``host:port`` (IPv4) from a daemon thread of a Celery worker's main process."""
    host, _, port = bind.rpartition(":")
    server = make_server(host or "0.0.0.0", int(port), _wsgi_app, ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-exporter", daemon=True).start()
    logger.info("Serving worker metrics on %s", bind)
    return server
