"""Fixtures for SDK metrics: SDK-authenticated clients and the batch factories of helpers.py."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from controlplane.audit.services import SYSTEM
from controlplane.projects.services import issue_sdk_key
from tests.metrics.helpers import entry, make_batch, sdk_client


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
