"""Read side of SDK metrics: what the rollout engine, charts and flag lists ask.

Edge precision: a window selects whole buckets, those whose start is ``>= since`` and
``< until``. Counts are therefore exact only to one bucket (METRICS_BUCKET_SECONDS) at each
edge: a bucket that began just before ``since`` is left out entirely, one that began just
before ``until`` is counted entirely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Max, Sum
from django.utils import timezone

from controlplane.metrics.histogram import HISTOGRAM_SIZE, STANDARD_BOUNDS_MS, quantile
from controlplane.metrics.models import FlagActivity, MetricBucket, MetricUnitBucket
from controlplane.projects.models import Environment
from flagplane.metrics import UNIT_GROUPS


@dataclass(frozen=True)
class ArmTotals:
    """What SDKs reported for one arm (a set of variants) of a flag over a window."""

    requests: int
    """Recorded outcomes: successes + errors."""
    errors: int
    evaluations: int
    histogram: tuple[int, ...]
    """Latency counts aligned with ``bounds_ms``, plus one overflow count."""
    bounds_ms: tuple[float, ...]
    latency_sum: float
    """Sum of recorded latencies in ms (mean = latency_sum / sum(histogram))."""
    ungrouped: int = 0
    """Requests reported by SDKs that send no unit groups (wire format 1)."""
    unit_requests: tuple[int, ...] = ()
    """Split-served requests per unit group (``UNIT_GROUPS`` items; empty when none were reported)."""
    unit_errors: tuple[int, ...] = ()
    unit_histograms: tuple[tuple[int, ...], ...] = ()
    """Latency counts per unit group, each aligned with ``bounds_ms`` plus overflow."""

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def latency_quantile(self, q: float) -> float | None:
        """Estimated latency quantile in ms (see ``histogram.quantile``); None without latencies."""
        return quantile(self.histogram, q, self.bounds_ms)


@dataclass(frozen=True)
class Activity:
    last_evaluated_at: datetime | None
    evaluations_24h: int


def _window_sql(until: datetime | None) -> str:
    return "environment_id = %s AND flag_key = %s AND variant = ANY(%s) AND bucket_start >= %s" + (
        " AND bucket_start < %s" if until is not None else ""
    )


def arm_counts(
    environment_id: int,
    flag_key: str,
    variants: Sequence[str],
    since: datetime,
    until: datetime | None = None,
) -> ArmTotals:
    """Totals over every bucket of ``flag_key`` for ``variants`` with ``since <= start < until``
    (no upper limit when ``until`` is None). Precise to one bucket at each edge."""
    params: list = [environment_id, flag_key, list(variants), since]
    if until is not None:
        params.append(until)
    table = MetricBucket._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT COALESCE(SUM(evaluations), 0), COALESCE(SUM(successes), 0), COALESCE(SUM(errors), 0),
                   COALESCE(SUM(latency_sum), 0), COALESCE(SUM(ungrouped_signals), 0)
            FROM {table} WHERE {_window_sql(until)}
            """,
            params,
        )
        evaluations, successes, errors, latency_sum, ungrouped = cursor.fetchone()
        cursor.execute(
            f"""
            SELECT h.i, SUM(h.c)
            FROM {table}, unnest(latency_counts) WITH ORDINALITY AS h(c, i)
            WHERE {_window_sql(until)}
            GROUP BY h.i
            """,
            params,
        )
        histogram = [0] * HISTOGRAM_SIZE
        for index, count in cursor.fetchall():
            histogram[index - 1] = int(count)
        units = _unit_counts(cursor, params, until)
    return ArmTotals(
        requests=int(successes) + int(errors),
        errors=int(errors),
        evaluations=int(evaluations),
        histogram=tuple(histogram),
        bounds_ms=STANDARD_BOUNDS_MS,
        latency_sum=float(latency_sum),
        ungrouped=int(ungrouped),
        **units,
    )


def _unit_counts(cursor, params: list, until: datetime | None) -> dict:
    """The per-unit-group sums of ``arm_counts``'s window (empty tuples when none were reported)."""
    table = MetricUnitBucket._meta.db_table
    cursor.execute(
        f"""
        SELECT g.i, SUM(g.s), SUM(g.e)
        FROM {table}, unnest(successes, errors) WITH ORDINALITY AS g(s, e, i)
        WHERE {_window_sql(until)}
        GROUP BY g.i
        """,
        params,
    )
    rows = cursor.fetchall()
    if not rows:
        return {}
    requests, errors = [0] * UNIT_GROUPS, [0] * UNIT_GROUPS
    for index, s, e in rows:
        requests[index - 1], errors[index - 1] = int(s) + int(e), int(e)
    cursor.execute(
        f"""
        SELECT h.i, SUM(h.c)
        FROM {table}, unnest(latency_counts) WITH ORDINALITY AS h(c, i)
        WHERE {_window_sql(until)}
        GROUP BY h.i
        """,
        params,
    )
    flat = [0] * (UNIT_GROUPS * HISTOGRAM_SIZE)
    for index, count in cursor.fetchall():
        flat[index - 1] = int(count)
    histograms = tuple(tuple(flat[g * HISTOGRAM_SIZE : (g + 1) * HISTOGRAM_SIZE]) for g in range(UNIT_GROUPS))
    return {"unit_requests": tuple(requests), "unit_errors": tuple(errors), "unit_histograms": histograms}


def timeline(
    environment_id: int,
    flag_key: str,
    variants_by_arm: dict[str, Sequence[str]],
    since: datetime,
    until: datetime,
    step_s: int,
) -> list[dict]:
    """Per step of ``step_s`` seconds from ``since`` to ``until``, per arm: requests, errors,
    error_rate (None without requests) and p95_ms (None without latencies), for a chart.

    Each bucket falls in the step containing its start; steps without data report zeros.
    Returns ``[{"start": datetime, "end": datetime, "arms": {arm: {...}}}, ...]``.
    """
    if step_s <= 0:
        raise ValueError("step_s must be positive")
    steps = max(0, -(-int((until - since).total_seconds()) // step_s))
    variants = sorted({variant for arm in variants_by_arm.values() for variant in arm})
    table = MetricBucket._meta.db_table
    rows: dict[tuple[int, str], tuple[int, int, list[int]]] = {}
    if steps and variants:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH selected AS (
                    SELECT FLOOR(EXTRACT(EPOCH FROM bucket_start - %s) / %s)::int AS step,
                           variant, successes, errors, latency_counts
                    FROM {table} WHERE {_window_sql(until)}
                ),
                totals AS (
                    SELECT step, variant, SUM(successes) AS successes, SUM(errors) AS errors
                    FROM selected GROUP BY step, variant
                ),
                histograms AS (
                    SELECT step, variant, ARRAY_AGG(c ORDER BY i) AS counts
                    FROM (
                        SELECT step, variant, h.i, SUM(h.c) AS c
                        FROM selected, unnest(latency_counts) WITH ORDINALITY AS h(c, i)
                        GROUP BY step, variant, h.i
                    ) per_bound
                    GROUP BY step, variant
                )
                SELECT t.step, t.variant, t.successes, t.errors, h.counts
                FROM totals t JOIN histograms h USING (step, variant)
                """,
                [since, step_s, environment_id, flag_key, variants, since, until],
            )
            for step, variant, successes, errors, counts in cursor.fetchall():
                rows[(step, variant)] = (int(successes) + int(errors), int(errors), [int(c) for c in counts])
    result = []
    for step in range(steps):
        start = since + timedelta(seconds=step * step_s)
        arms = {}
        for arm, arm_variants in variants_by_arm.items():
            requests = errors = 0
            histogram = [0] * HISTOGRAM_SIZE
            for variant in arm_variants:
                if (step, variant) in rows:
                    r, e, counts = rows[(step, variant)]
                    requests += r
                    errors += e
                    histogram = [a + b for a, b in zip(histogram, counts, strict=True)]
            arms[arm] = {
                "requests": requests,
                "errors": errors,
                "error_rate": errors / requests if requests else None,
                "p95_ms": quantile(histogram, 0.95),
            }
        result.append({"start": start, "end": min(start + timedelta(seconds=step_s), until), "arms": arms})
    return result


def flag_activity(environment: Environment | int, now: datetime | None = None) -> dict[str, Activity]:
    """Every flag key SDKs evaluated in ``environment``: when last (kept beyond bucket retention)
    and how often in the last 24 hours. Flags never evaluated are absent: that is "stale"."""
    environment_id = environment if isinstance(environment, int) else environment.id
    now = now or timezone.now()
    activity = {
        row.flag_key: Activity(last_evaluated_at=row.last_evaluated_at, evaluations_24h=0)
        for row in FlagActivity.objects.filter(environment_id=environment_id)
    }
    recent = (
        MetricBucket.objects.filter(environment_id=environment_id, bucket_start__gte=now - timedelta(hours=24))
        .values("flag_key")
        .annotate(evaluations=Sum("evaluations"), last=Max("bucket_start"))
    )
    for row in recent:
        if not row["evaluations"]:
            continue
        previous = activity.get(row["flag_key"])
        activity[row["flag_key"]] = Activity(
            last_evaluated_at=previous.last_evaluated_at if previous else row["last"],
            evaluations_24h=int(row["evaluations"]),
        )
    return activity
