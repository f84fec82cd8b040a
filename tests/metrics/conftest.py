"""Fixtures for SDK metrics: an SDK-authenticated client and a batch factory."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from controlplane.audit.services import SYSTEM
from controlplane.metrics.histogram import STANDARD_BOUNDS_MS
from controlplane.projects.services import issue_sdk_key


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def sdk_client(plaintext: str | None) -> APIClient:
    client = APIClient()
    if plaintext:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def entry(flag="new-checkout", variant="on", evaluations=10, successes=8, errors=2, counts=None, latency_sum=None):
    counts = list(counts) if counts is not None else [0, 3, 4, 2, 1] + [0] * 9
    return {
        "flag": flag,
        "variant": variant,
        "evaluations": evaluations,
        "successes": successes,
        "errors": errors,
        "latency_ms": {
            "bounds": list(STANDARD_BOUNDS_MS),
            "counts": counts,
            "sum": latency_sum if latency_sum is not None else 42.5,
        },
    }


def make_batch(*entries, end: datetime | None = None, batch_id: str | None = None, dropped: int = 0) -> dict:
    end = end or datetime.now(UTC)
    return {
        "sdk": {"name": "flagplane-python", "version": "1.0.0"},
        "batch_id": batch_id or uuid.uuid4().hex,
        "document_version": 3,
        "period": {"start": rfc3339(end - timedelta(seconds=10)), "end": rfc3339(end)},
        "flags": list(entries) if entries else [entry()],
        "dropped": dropped,
    }


@pytest.fixture(name="entry")
def entry_fixture():
    """``entry(flag=…, variant=…, evaluations=…, …)``: one flag entry of a batch."""
    return entry


@pytest.fixture(name="make_batch")
def make_batch_fixture():
    """``make_batch(*entries, end=…, batch_id=…, dropped=…)``: a valid batch ending now."""
    return make_batch


@pytest.fixture
def anonymous() -> APIClient:
    return sdk_client(None)


@pytest.fixture
def sdk(sdk_key) -> APIClient:
    """A client authenticated with the production SDK key."""
    return sdk_client(sdk_key)


@pytest.fixture
def development_sdk_key(development) -> str:
    _, plaintext = issue_sdk_key(development, SYSTEM, "checkout-service-dev")
    return plaintext


@pytest.fixture
def development_sdk(development_sdk_key) -> APIClient:
    return sdk_client(development_sdk_key)


@pytest.fixture
def post(sdk):
    """``post(batch)``: POST a batch with the production key."""
    return lambda batch: sdk.post("/api/v1/metrics", batch, format="json")


@pytest.fixture(autouse=True)
def no_document_builds(monkeypatch):
    """Creating the project queues document builds after commit. In this package's transactional
    tests nothing needs them (the end-to-end test builds inline), and a session-wide Celery worker
    started by other tests would run them while the test database is being flushed (deadlock)."""
    monkeypatch.setattr("controlplane.documents.services._enqueue", lambda environment_id: None)
