"""Blocking HTTP calls to the control plane (run only on SDK background threads).

Uses urllib from the standard library so the SDK's only dependency stays mmh3.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from flagplane._version import __version__

USER_AGENT = f"flagplane-python/{__version__}"
CONFIG_PATH = "/api/v1/sdk/config"
METRICS_PATH = "/api/v1/metrics"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    etag: str | None
    retry_after: float | None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _request(request: urllib.request.Request, timeout: float) -> Response:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            status, headers, raw = reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as error:
        status, headers = error.code, error.headers
        try:
            raw = error.read()
        except OSError:
            raw = b""
    if headers.get("Content-Encoding", "").lower() == "gzip" and raw:
        raw = gzip.decompress(raw)
    return Response(status, raw, headers.get("ETag"), parse_retry_after(headers.get("Retry-After")))


def fetch_config(base_url: str, sdk_key: str, etag: str | None, timeout: float) -> Response:
    """GET the SDK document; 200 with a body and ETag, or 304 when ``etag`` is current."""
    headers = {
        "Authorization": f"Bearer {sdk_key}",
        "Accept": "application/json",
        "Accept-Encoding": "gzip",
        "User-Agent": USER_AGENT,
    }
    if etag:
        headers["If-None-Match"] = etag
    request = urllib.request.Request(base_url.rstrip("/") + CONFIG_PATH, headers=headers)
    return _request(request, timeout)


def post_metrics(base_url: str, sdk_key: str, batch: dict[str, Any], timeout: float) -> Response:
    """POST one metrics batch (docs/metrics-wire-format.md); the server answers 202."""
    body = json.dumps(batch, separators=(",", ":")).encode("utf-8")
    request = urllib.request.Request(
        base_url.rstrip("/") + METRICS_PATH,
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {sdk_key}",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        },
    )
    return _request(request, timeout)
