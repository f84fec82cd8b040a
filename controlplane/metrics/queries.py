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
from typing import NamedTuple

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
    latencies: bool = True
    """False: counted without the latencies (``histogram`` all zeros, no ``unit_histograms``), for
    a reader of traffic only (the rollout engine's sample-ratio check)."""

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def latency_quantile(self, q: float) -> float | None:
        """Estimated latency quantile in ms (see ``histogram.quantile``); None without latencies."""
        return quantile(self.histogram, q, self.bounds_ms)

    def plus(self, other: ArmTotals) -> ArmTotals:
        """The totals of this period and ``other`` (a period of the same arm next to it) together:
        what one window over both would count. Both are counted with their latencies, or both without."""
        if self.latencies != other.latencies:
            raise ValueError("Totals counted with their latencies and without cannot be added up.")
        if self.unit_requests and other.unit_requests:
            units = {
                "unit_requests": _added(self.unit_requests, other.unit_requests),
                "unit_errors": _added(self.unit_errors, other.unit_errors),
                "unit_histograms": tuple(
                    _added(a, b) for a, b in zip(self.unit_histograms, other.unit_histograms, strict=True)
                ),
                "latencies": self.latencies,
            }
        else:  # unit groups reported in one period at most: its counts, or none
            grouped = self if self.unit_requests else other
            units = {name: getattr(grouped, name) for name in ("unit_requests", "unit_errors", "unit_histograms")}
            units["latencies"] = self.latencies
        return ArmTotals(
            requests=self.requests + other.requests,
            errors=self.errors + other.errors,
            evaluations=self.evaluations + other.evaluations,
            histogram=_added(self.histogram, other.histogram),
            bounds_ms=self.bounds_ms,
            latency_sum=self.latency_sum + other.latency_sum,
            ungrouped=self.ungrouped + other.ungrouped,
            **units,
        )


def _added(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(x + y for x, y in zip(a, b, strict=True))


@dataclass(frozen=True)
class Activity:
    last_evaluated_at: datetime | None
    evaluations_24h: int


_WINDOW_SQL = "environment_id = %s AND flag_key = %s AND variant = ANY(%s) AND bucket_start >= %s AND bucket_start < %s"


class Window(NamedTuple):
    """An arm (``variants``) of one flag and its period, ``since <= bucket start < until`` (``until``
    None: no end); ``latencies`` False: counted without them (``ArmTotals.latencies``), which saves
    most of the work."""

    environment_id: int
    flag_key: str
    variants: Sequence[str]
    since: datetime
    until: datetime | None
    latencies: bool = True


def arm_counts(
    environment_id: int,
    flag_key: str,
    variants: Sequence[str],
    since: datetime,
    until: datetime | None = None,
) -> ArmTotals:
    """Totals over every bucket of ``flag_key`` for ``variants`` with ``since <= start < until``
    (no upper limit when ``until`` is None). Precise to one bucket at each edge."""
    return arm_counts_many([Window(environment_id, flag_key, variants, since, until)])[0]


_IN_WINDOWS_SQL = """windows w CROSS JOIN LATERAL (
            SELECT * FROM {table} b
            WHERE b.environment_id = w.environment_id AND b.flag_key = w.flag_key AND b.variant = ANY(w.variants)
              AND b.bucket_start >= w.since AND (w.until IS NULL OR b.bucket_start < w.until)
            OFFSET 0
        ) b"""
"""Each window's rows of one bucket table, beside the window (``w``); the rows as ``b``."""

_COUNTS_SQL = """
    WITH windows AS (
        SELECT w.n - 1 AS n, w.environment_id, w.flag_key, w.variants::text[] AS variants, w.since, w.until,
               w.latencies
        FROM unnest(%s::int[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::bool[])
             WITH ORDINALITY AS w(environment_id, flag_key, variants, since, until, latencies, n)
    ),
    buckets AS MATERIALIZED (
        SELECT w.n, w.latencies, b.evaluations, b.successes, b.errors, b.latency_sum, b.ungrouped_signals,
               b.latency_counts
        FROM {buckets_in_windows}
    ),
    groups AS MATERIALIZED (
        SELECT w.n, w.latencies, b.unit_groups, b.successes, b.errors,
               CASE WHEN w.latencies THEN b.latency_bins END AS latency_bins,
               CASE WHEN w.latencies THEN b.latency_counts END AS latency_counts
        FROM {unit_buckets_in_windows}
    )
    SELECT n, 't', 0, SUM(evaluations)::bigint, SUM(successes)::bigint, SUM(errors)::bigint, SUM(latency_sum),
           SUM(ungrouped_signals)::bigint
    FROM buckets GROUP BY n
    UNION ALL
    SELECT n, 'h', h.i, SUM(h.c)::bigint, NULL, NULL, NULL, NULL
    FROM buckets, unnest(latency_counts) WITH ORDINALITY AS h(c, i) WHERE latencies GROUP BY n, h.i
    HAVING SUM(h.c) <> 0
    UNION ALL
    SELECT n, 'g', g.unit_group, SUM(g.successes)::bigint, SUM(g.errors)::bigint, NULL, NULL, NULL
    FROM groups, unnest(unit_groups, successes, errors) AS g(unit_group, successes, errors) GROUP BY n, g.unit_group
    UNION ALL
    SELECT n, 'l', l.bin, SUM(l.c)::bigint, NULL, NULL, NULL, NULL
    FROM groups, unnest(latency_bins, latency_counts) AS l(bin, c) GROUP BY n, l.bin
"""
"""Per window: its buckets' sums ('t') and histogram ('h', its counts that are not zero), per unit
group its sums ('g', a row per group reported) and its histogram's counts that are not zero ('l',
a row per bin: group * ``HISTOGRAM_SIZE`` + index), added up over the unit-group rows of every
batch (``MetricUnitBucket``); the latencies only for a window counted with them. Each window's
buckets are read from the index over its own period (``OFFSET 0`` keeps the planner from joining
all of the flags' buckets to the windows instead). The windows come as an array a field (their
variants as an array literal each, numbered in order), so that a batch of plans' hundreds of
windows cost six parameters, not six each."""


def arm_counts_many(windows: Sequence[Window]) -> list[ArmTotals]:
    """``arm_counts`` of each of ``windows``, of any flags, in one query however many windows: what
    a batch of rollout ticks reads."""
    if not windows:
        return []
    params = [
        [window.environment_id for window in windows],
        [window.flag_key for window in windows],
        [_array_literal(window.variants) for window in windows],
        [window.since for window in windows],
        [window.until for window in windows],
        [window.latencies for window in windows],
    ]
    sql = _COUNTS_SQL.format(
        buckets_in_windows=_IN_WINDOWS_SQL.format(table=MetricBucket._meta.db_table),
        unit_buckets_in_windows=_IN_WINDOWS_SQL.format(table=MetricUnitBucket._meta.db_table),
    )
    with_latencies = [window.latencies for window in windows]
    sums = [[0, 0, 0, 0.0, 0] for _ in windows]
    histograms = [[0] * HISTOGRAM_SIZE for _ in windows]
    unit_rows = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for n, kind, index, *numbers in cursor.fetchall():
            if kind == "t":
                sums[n] = numbers[:5]
            elif kind == "h":
                histograms[n][index - 1] = numbers[0]
            else:
                unit_rows.append((n, kind, index, numbers[0], numbers[1]))
    units = _unit_counts(unit_rows, with_latencies)
    return [
        ArmTotals(
            requests=successes + errors,
            errors=errors,
            evaluations=evaluations,
            histogram=tuple(histogram),
            bounds_ms=STANDARD_BOUNDS_MS,
            latency_sum=latency_sum,
            ungrouped=ungrouped,
            latencies=wanted,
            **unit_counts,
        )
        for (evaluations, successes, errors, latency_sum, ungrouped), histogram, unit_counts, wanted in zip(
            sums, histograms, units, with_latencies, strict=True
        )
    ]


def _array_literal(items: Sequence[str]) -> str:
    """``items`` as a PostgreSQL array literal, each quoted (a variant may hold any character)."""
    quoted = ('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items)
    return "{" + ",".join(quoted) + "}"


def _unit_counts(rows: list[tuple], latencies: list[bool]) -> list[dict]:
    """Each window's per-unit-group sums from its rows ``(n, "g", group, successes, errors)`` and
    ``(n, "l", bin, count, None)`` (empty tuples when no group was reported; no histograms for a
    window counted without its ``latencies``)."""
    windows = len(latencies)
    requests = [[0] * UNIT_GROUPS for _ in range(windows)]
    errors = [[0] * UNIT_GROUPS for _ in range(windows)]
    histograms = [[[0] * HISTOGRAM_SIZE for _ in range(UNIT_GROUPS)] for _ in range(windows)]
    reported = [False] * windows
    for n, kind, index, first, second in rows:
        if kind == "g":
            requests[n][index], errors[n][index] = first + second, second
            reported[n] = True
        else:
            histograms[n][index // HISTOGRAM_SIZE][index % HISTOGRAM_SIZE] = first
    return [
        {
            "unit_requests": tuple(requests[n]),
            "unit_errors": tuple(errors[n]),
            "unit_histograms": tuple(map(tuple, histograms[n])) if latencies[n] else (),
        }
        if reported[n]
        else {}
        for n in range(windows)
    ]


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
                    FROM {table} WHERE {_WINDOW_SQL}
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
