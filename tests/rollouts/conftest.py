"""Helpers for rollout tests: define plans through the API, report SDK health signals, tick."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from controlplane.documents import assembly
from controlplane.rollouts.models import RolloutPlan
from tests.documents.helpers import published_document

ERROR_RULE = {
    "key": "errors",
    "metric": "error_rate",
    "comparison": "vs_control_absolute",
    "threshold": 0.02,
    "min_samples": 100,
    "severity": "rollback",
}


@pytest.fixture
def fine_metrics(settings):
    """One-second metric buckets, so that stages of a few seconds get their own data."""
    settings.METRICS_BUCKET_SECONDS = 1


@pytest.fixture
def sdk(sdk_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {sdk_key}")
    return client


def create_plan(api, stages, rules=(ERROR_RULE,), **extra) -> dict:
    body = {
        "project": "shop",
        "flag": "new-checkout",
        "environment": "production",
        "stages": list(stages),
        "rules": list(rules),
        "starvation_timeout_s": 600,
        **extra,
    }
    response = api.post("/api/v1/rollouts/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def act(api, plan_id: int, action: str, **body) -> dict:
    response = api.post(f"/api/v1/rollouts/{plan_id}/{action}/", body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def report(sdk, requests: dict[str, tuple[int, int]], at: float | None = None) -> None:
    """Post one SDK metrics batch: {variant: (requests, errors)} for new-checkout, for a period
    ending now (or at the Unix time ``at``)."""
    moment = datetime.fromtimestamp(at, tz=UTC) if at is not None else datetime.now(UTC)
    now = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    batch = {
        "sdk": {"name": "test", "version": "0"},
        "batch_id": uuid.uuid4().hex,
        "document_version": None,
        "period": {"start": now, "end": now},
        "flags": [
            {
                "flag": "new-checkout",
                "variant": variant,
                "evaluations": total,
                "successes": total - errors,
                "errors": errors,
                "latency_ms": {
                    "bounds": [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
                    "counts": [0] * 6 + [total] + [0] * 7,
                    "sum": 80.0 * total,
                },
            }
            for variant, (total, errors) in requests.items()
        ],
        "dropped": 0,
    }
    response = sdk.post("/api/v1/metrics", batch, format="json")
    assert response.status_code == 202, response.content


def wait_for(predicate, timeout: float = 90.0, interval: float = 0.1, on_each=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if on_each:
            on_each()
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def plan_status(plan_id: int) -> RolloutPlan:
    return RolloutPlan.objects.get(pk=plan_id)


def served_split(flag) -> list[dict]:
    """The split SDKs in production get for the flag's fallthrough ([{}] while it serves one variant)."""
    environment_id = flag.states.get(environment__key="production").environment_id
    if assembly.assemble(environment_id) is None:
        return [{}]  # not published yet: the worker has not built the first document
    return published_document(environment_id)["flags"][flag.key]["default"].get("split", [{}])
