"""Shared fixtures for the SDK tests (no Django, no network beyond 127.0.0.1)."""

from __future__ import annotations

import copy
import gzip
import json
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SDK_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = SDK_ROOT.parent
GOLDEN = REPO_ROOT / "docs" / "golden"

if str(SDK_ROOT) not in sys.path:  # works without `pip install -e ./sdk` too
    sys.path.insert(0, str(SDK_ROOT))

from flagplane import Client  # noqa: E402


def load_golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


@pytest.fixture
def golden_document() -> dict[str, Any]:
    return copy.deepcopy(load_golden("evaluation.json")["document"])


def make_flag(key: str = "f", **overrides: Any) -> dict[str, Any]:
    """A valid boolean flag of the document format, 50/50 split on the default."""
    flag: dict[str, Any] = {
        "key": key,
        "kind": "boolean",
        "variant_type": "boolean",
        "version": 1,
        "on": True,
        "salt": key,
        "bucket_by": "key",
        "variants": [{"key": "on", "value": True}, {"key": "off", "value": False}],
        "off_variant": "off",
        "targets": [],
        "rules": [],
        "default": {
            "split": [{"variant": "on", "weight": 50_000}, {"variant": "off", "weight": 50_000}]
        },
    }
    flag.update(overrides)
    return flag


def make_document(*flags: dict[str, Any], version: int = 1, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema_version": 1,
        "project": "web",
        "environment": "production",
        "version": version,
        "flags": {flag["key"]: flag for flag in flags},
        "segments": {},
    }
    doc.update(extra)
    return doc


@pytest.fixture
def flag_factory() -> Any:
    return make_flag


@pytest.fixture
def document_factory() -> Any:
    return make_document


class FakeControlPlane:
    """A local stand-in for the control plane's SDK endpoints, on 127.0.0.1."""

    def __init__(self, sdk_key: str = "sdk-test-key") -> None:
        self.sdk_key = sdk_key
        self.document: dict[str, Any] | None = None
        self.raw_body: bytes | None = None  # served instead of `document` when set
        self.config_failures: list[tuple[int, dict[str, str]]] = []  # served first, in order
        self.metrics_statuses: list[int] = []  # served first, then 202
        self.gzip_responses = False
        self.config_requests: list[tuple[float, dict[str, str]]] = []
        self.stream_requests: list[tuple[float, dict[str, str]]] = []
        self.streaming = False  # while False, the stream path answers 404 (an older server)
        self.stream_failures: list[tuple[int, dict[str, str]]] = []  # served first, in order
        self.stream_outage = False  # while True, a stream request is closed unanswered (down)
        self.stream_status: int | None = None  # while set, the stream answers it (a proxy's 502)
        self._streams: list[queue.Queue[bytes | None]] = []
        self.metrics_batches: list[dict[str, Any]] = []
        self.outage = False  # while True, every config poll answers 503
        self.lock = threading.Lock()
        self._etag_counter = 0
        self.etag = ""
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def publish(self, document: dict[str, Any]) -> None:
        with self.lock:
            self.document = document
            self.raw_body = None
            self._etag_counter += 1
            self.etag = f'"doc-{self._etag_counter}"'

    def send_event(self, kind: str, version: int, data: bytes) -> None:
        """An SSE event to every open stream."""
        event = f"event: {kind}\nid: {version}\ndata: ".encode() + data + b"\n\n"
        with self.lock:
            for stream in self._streams:
                stream.put(event)

    def end_streams(self) -> None:
        with self.lock:
            for stream in self._streams:
                stream.put(None)

    @property
    def open_streams(self) -> int:
        with self.lock:
            return len(self._streams)

    def publish_raw(self, body: bytes) -> None:
        with self.lock:
            self.raw_body = body
            self._etag_counter += 1
            self.etag = f'"raw-{self._etag_counter}"'

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        plane = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == "/api/v1/sdk/stream":
                    return self._stream()
                with plane.lock:
                    plane.config_requests.append((time.monotonic(), dict(self.headers.items())))
                    if self.path != "/api/v1/sdk/config":
                        return self._send(404)
                    if self.headers.get("Authorization") != f"Bearer {plane.sdk_key}":
                        return self._send(401)
                    if plane.outage:
                        return self._send(503)
                    if plane.config_failures:
                        status, headers = plane.config_failures.pop(0)
                        return self._send(status, b"{}", headers)
                    if plane.document is None and plane.raw_body is None:
                        return self._send(503)
                    if self.headers.get("If-None-Match") == plane.etag:
                        return self._send(304, b"", {"ETag": plane.etag})
                    body = plane.raw_body or json.dumps(plane.document).encode()
                    headers = {"ETag": plane.etag, "Content-Type": "application/json"}
                    if plane.gzip_responses and "gzip" in self.headers.get("Accept-Encoding", ""):
                        body = gzip.compress(body)
                        headers["Content-Encoding"] = "gzip"
                    return self._send(200, body, headers)

            def _stream(self) -> None:
                with plane.lock:
                    plane.stream_requests.append((time.monotonic(), dict(self.headers.items())))
                    if plane.stream_outage:
                        self.close_connection = True
                        return None
                    if plane.stream_status is not None:
                        return self._send(plane.stream_status)
                    if not plane.streaming:
                        return self._send(404)
                    if self.headers.get("Authorization") != f"Bearer {plane.sdk_key}":
                        return self._send(401)
                    if plane.stream_failures:
                        status, headers = plane.stream_failures.pop(0)
                        return self._send(status, b"{}", headers)
                    events: queue.Queue[bytes | None] = queue.Queue()
                    if plane.document is not None:
                        body = json.dumps(plane.document).encode()
                        version = plane.document["version"]
                        events.put(f"event: put\nid: {version}\ndata: ".encode() + body + b"\n\n")
                    plane._streams.append(events)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    self.wfile.write(b": hello\n\n")
                    self.wfile.flush()
                    while (event := events.get()) is not None:
                        self.wfile.write(event)
                        self.wfile.flush()
                except OSError:
                    pass
                finally:
                    with plane.lock:
                        plane._streams.remove(events)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with plane.lock:
                    if self.path != "/api/v1/metrics":
                        return self._send(404)
                    if self.headers.get("Authorization") != f"Bearer {plane.sdk_key}":
                        return self._send(401)
                    status = plane.metrics_statuses.pop(0) if plane.metrics_statuses else 202
                    if status == 202:
                        plane.metrics_batches.append(json.loads(body))
                    return self._send(status)

        return Handler

    def __enter__(self) -> FakeControlPlane:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.end_streams()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def control_plane() -> Iterator[FakeControlPlane]:
    with FakeControlPlane() as plane:
        yield plane


@pytest.fixture
def make_client(control_plane: FakeControlPlane) -> Iterator[Callable[..., Client]]:
    """Clients against the fake control plane, fast intervals, all closed after the test."""
    clients: list[Client] = []

    def make(**options: Any) -> Client:
        settings: dict[str, Any] = {
            "sdk_key": control_plane.sdk_key,
            "base_url": control_plane.url,
            "poll_interval": 0.05,
            "metrics_flush_interval": 3600.0,
            "backoff_base": 0.05,
            "backoff_max": 0.2,
            "request_timeout": 2.0,
            "stream": False,  # polling, unless a test asks for the stream
        }
        settings.update(options)
        client = Client(**settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def eventually() -> Callable[..., bool]:
    return wait_for
