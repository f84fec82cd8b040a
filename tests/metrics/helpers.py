"""Helpers for SDK metrics tests: SDK-authenticated clients and batches as SDKs post them."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

from rest_framework.test import APIClient

from controlplane.metrics.histogram import HISTOGRAM_SIZE, STANDARD_BOUNDS_MS
from flagplane.metrics import UNIT_GROUPS


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


def as_text(batch: dict) -> bytes:
    """A batch's JSON as an SDK posts it (what ``inbox.park`` keeps)."""
    return json.dumps(batch, separators=(",", ":")).encode()


def grouped_series(
    rng: random.Random, entry, variant: str, max_groups: int, max_successes: int, max_errors: int
) -> dict:
    """A series reporting a random handful of unit groups (1 to ``max_groups``), each with random
    signals and latencies, its totals the groups' sums; ``entry`` is the ``entry`` fixture."""
    groups = sorted(rng.sample(range(UNIT_GROUPS), rng.randint(1, max_groups)))
    successes = [rng.randint(0, max_successes) for _ in groups]
    errors = [rng.randint(0, max_errors) for _ in groups]
    histograms = []
    for s, e in zip(successes, errors, strict=True):
        counts = [0] * HISTOGRAM_SIZE
        for _ in range(rng.randint(0, s + e)):
            counts[rng.randrange(HISTOGRAM_SIZE)] += 1
        histograms.append(counts)
    return {
        **entry(variant=variant, successes=sum(successes), errors=sum(errors),
                counts=[sum(column) for column in zip(*histograms, strict=True)]),
        "units": {"groups": UNIT_GROUPS, "group": groups, "successes": successes, "errors": errors,
                  "latency_counts": histograms},
    }  # fmt: skip
