"""The real SDK against the production web server: what it records reaches arm_counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import flagplane
from controlplane.audit.services import SYSTEM
from controlplane.documents.services import rebuild
from controlplane.flags.services import get_state, update_flag_state
from controlplane.metrics.models import MetricBatch
from controlplane.metrics.queries import arm_counts


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_sdk_reports_what_it_records(edge, sdk_key, production, checkout_flag):
    update_flag_state(get_state(checkout_flag, production), SYSTEM, {"on": True, "default_serve": {"variant": "on"}})
    rebuild(production.id)
    since = datetime.now(UTC) - timedelta(minutes=1)
    client = flagplane.Client(
        sdk_key=sdk_key, base_url=edge.url, poll_interval=60, metrics_flush_interval=60, request_timeout=5
    )
    try:
        assert client.wait_until_ready(5)
        for _ in range(3):
            with client.guard("new-checkout", {"key": "user-1"}) as enabled:
                assert enabled is True
        with pytest.raises(RuntimeError), client.guard("new-checkout", {"key": "user-2"}):
            raise RuntimeError("checkout v2 failed")
        client.record("new-checkout", "on", ok=False, latency_ms=30.0)
        client.record("new-checkout", "off", ok=True, latency_ms=3.0)
    finally:
        client.close()  # flushes

    on = arm_counts(production.id, "new-checkout", ["on"], since)
    assert (on.requests, on.errors, on.evaluations) == (5, 2, 4)
    assert sum(on.histogram) == 5
    assert on.histogram[5] == 1  # the 30 ms one, in (25, 50]
    off = arm_counts(production.id, "new-checkout", ["off"], since)
    assert (off.requests, off.errors, off.evaluations) == (1, 0, 0)
    batch = MetricBatch.objects.get()
    assert batch.sdk_name == "flagplane-python" and batch.dropped == 0
