"""Fixtures for rollout tests: one-second metric buckets, an SDK-authenticated client."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.rollouts.helpers import EngineClock


@pytest.fixture
def fine_metrics(settings):
    """One-second metric buckets, so that stages of a few seconds get their own data."""
    settings.METRICS_BUCKET_SECONDS = 1


@pytest.fixture
def sdk(sdk_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {sdk_key}")
    return client


@pytest.fixture
def engine(monkeypatch) -> EngineClock:
    """The engine's clock, moved by ``engine.ago(seconds)``."""
    return EngineClock(monkeypatch)
