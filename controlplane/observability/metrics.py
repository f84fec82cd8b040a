"""Every Prometheus metric Flagplane exports, in one place (docs/operations.md lists them).

Record with the helpers of prometheus-client (``METRIC_BATCHES.labels(outcome="ingested").inc()``);
label values come from the tuples below so that a series exists (at 0) from the start. Served at
``/metrics`` by the web process and on WORKER_METRICS_PORT by a Celery worker
(``controlplane.observability.exposition``); with PROMETHEUS_MULTIPROC_DIR set, every process of
a pod writes there and one scrape sums them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SDK_POLL_OUTCOMES = ("ok", "not_modified", "unauthorized", "rate_limited", "overloaded", "unavailable")
DOCUMENT_BUILD_OUTCOMES = ("published", "unchanged", "failed")
METRIC_BATCH_OUTCOMES = ("ingested", "duplicate", "rejected")
ROLLOUT_TICK_OUTCOMES = ("decided", "skipped", "failed")
WEBHOOK_DELIVERY_OUTCOMES = ("succeeded", "retrying", "failed")
RECONCILER_REPAIR_KINDS = ("published_behind", "redis_copy")

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)

# --- SDK delivery (web: the ASGI edge) --------------------------------------------------------
SDK_CONNECTIONS = Gauge(
    "flagplane_sdk_connections",
    "Open SDK streaming connections (GET /api/v1/sdk/stream) in this pod.",
    multiprocess_mode="livesum",
)
SDK_POLLS = Counter(
    "flagplane_sdk_polls",
    "SDK document requests (GET /api/v1/sdk/config) by outcome.",
    ["outcome"],
)
# --- SDK documents (workers) ------------------------------------------------------------------
DOCUMENT_BUILDS = Counter(
    "flagplane_document_builds",
    "SDK document builds by outcome: a new version published, content unchanged, or failed.",
    ["outcome"],
)
DOCUMENT_BUILD_SECONDS = Histogram(
    "flagplane_document_build_seconds", "Time to build one environment's SDK document.", buckets=LATENCY_BUCKETS_S
)
PUBLICATION_LAG = Histogram(
    "flagplane_document_publication_lag_seconds",
    "From a committed change to the SDK document that contains it being served.",
    buckets=LAG_BUCKETS_S,
)
RECONCILER_REPAIRS = Counter(
    "flagplane_reconciler_repairs",
    "What the reconciler had to do: publish an environment whose build had not happened"
    " (published_behind), or rewrite a Redis copy that was missing, older or different (redis_copy).",
    ["kind"],
)
# --- SDK health metrics (web) -----------------------------------------------------------------
METRIC_BATCHES = Counter(
    "flagplane_metric_batches",
    "SDK metric batches (POST /api/v1/metrics) by outcome; a rejected batch got a 400.",
    ["outcome"],
)
# --- Rollout engine (workers) -----------------------------------------------------------------
ROLLOUT_TICKS = Counter(
    "flagplane_rollout_ticks",
    "Engine evaluations of one active plan; skipped: the plan changed or was locked meanwhile; failed: logged.",
    ["outcome"],
)
ROLLOUT_TICK_SECONDS = Histogram(
    "flagplane_rollout_tick_seconds",
    "Time of one plan evaluation, reading its health sources included.",
    buckets=LATENCY_BUCKETS_S,
)
ROLLOUT_DECISIONS = Counter(
    "flagplane_rollout_decisions",
    "Decisions written to plans' logs, by action (hold, advance, rollback, pause, start...).",
    ["action"],
)
# --- Webhooks (workers) -----------------------------------------------------------------------
WEBHOOK_DELIVERIES = Counter(
    "flagplane_webhook_deliveries",
    "Webhook delivery attempts by outcome (retrying: it failed and will be tried again).",
    ["outcome"],
)

for _counter, _values in (
    (SDK_POLLS, SDK_POLL_OUTCOMES),
    (DOCUMENT_BUILDS, DOCUMENT_BUILD_OUTCOMES),
    (METRIC_BATCHES, METRIC_BATCH_OUTCOMES),
    (ROLLOUT_TICKS, ROLLOUT_TICK_OUTCOMES),
    (WEBHOOK_DELIVERIES, WEBHOOK_DELIVERY_OUTCOMES),
    (RECONCILER_REPAIRS, RECONCILER_REPAIR_KINDS),
):
    for _value in _values:
        _counter.labels(_value)
