"""Fixtures of the webhook tests: a local HTTP receiver that records requests, and webhooks on it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import pytest

from controlplane.audit.services import SYSTEM
from controlplane.notifications.services import create_webhook
from tests.http_server import Request, Response, serve


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers 500 to the first ``fail_first`` requests (every request if ``always_fail``), then 204."""

    url: str
    fail_first: int = 0
    always_fail: bool = False
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, received: Received) -> int:
        with self.lock:
            self.requests.append(received)
            failing = self.always_fail or len(self.requests) <= self.fail_first
        return 500 if failing else 204

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")


@pytest.fixture
def receiver():
    def answer(request: Request) -> Response:
        return Response(hooks.answer(Received(request.path, request.headers, request.body)))

    with serve(answer) as server:
        hooks = Receiver(url=server.url("/hooks/flagplane"))
        yield hooks


@pytest.fixture
def fast_retries(settings):
    """Retries a few milliseconds apart; the worker thread reads these settings at call time."""
    settings.NOTIFICATIONS_RETRY_BASE_S = 0.02
    settings.NOTIFICATIONS_MAX_ATTEMPTS = 4
    settings.NOTIFICATIONS_TIMEOUT_S = 2.0
    return settings


@pytest.fixture
def webhook(project, receiver):
    """An active webhook on the local receiver that wants every event."""
    return create_webhook(project, SYSTEM, url=receiver.url, description="ops channel")


@pytest.fixture(autouse=True)
def no_document_builds(monkeypatch):
    """Creating the project queues SDK document builds after commit. Webhook tests need none, and
    the session's Celery worker could still be running one while the test database is flushed."""
    monkeypatch.setattr("controlplane.documents.services._enqueue", lambda environment_id: None)
