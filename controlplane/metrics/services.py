"""Writes of SDK metrics: ingest one batch (idempotently) and prune what retention no longer keeps."""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from controlplane.metrics.histogram import HISTOGRAM_SIZE, empty_histogram
from controlplane.metrics.models import (
    FlagActivity,
    LateBucket,
    MetricBatch,
    MetricBucket,
    MetricUnitBucket,
)
from controlplane.metrics.wire import Batch, Entry, UnitGroups, read_batch
from controlplane.observability.metrics import METRIC_BATCHES

ACTIVITY_RESOLUTION = timedelta(minutes=1)
"""A flag's activity row is rewritten at most this often (``_mark_evaluated``)."""
_HISTOGRAM_COLUMNS = [f"c{i}" for i in range(HISTOGRAM_SIZE)]
_EMPTY_HISTOGRAM = tuple(empty_histogram())


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    """Entries counted by this request (0 for a retry of a batch already counted)."""
    duplicate: bool
    queued: bool = False
    """Parked in Redis while PostgreSQL is unavailable (``inbox``), to be counted when it is back."""


def bucket_start(moment: datetime, width_s: int | None = None) -> datetime:
    """Start of the bucket (aligned to the Unix epoch) that contains ``moment``."""
    width = width_s or settings.METRICS_BUCKET_SECONDS
    return datetime.fromtimestamp(math.floor(moment.timestamp() / width) * width, tz=UTC)


def bucket_settled(start: datetime, at: datetime) -> bool:
    """Whether the bucket beginning at ``start`` had settled at ``at``: it ended
    ``ROLLOUTS_SAMPLE_RATIO_SETTLE_S`` ago, the time SDKs take to report it. The rollout engine
    stores counts of settled buckets (``rollouts.measurements``); a batch counted into one is late
    (``LateBucket``)."""
    end = start + timedelta(seconds=settings.METRICS_BUCKET_SECONDS)
    return end + timedelta(seconds=settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S) <= at


def ingest_batch(
    environment_id: int, data: Any, now: datetime | None = None, written_at: datetime | None = None
) -> IngestResult:
    """Count a batch as an SDK sent it (decoded JSON) in an environment, checked at ``now``
    (``wire.read_batch``: ``BatchError`` with every problem, and nothing stored, otherwise);
    ``written_at`` as in ``count_batch``."""
    now = now or timezone.now()
    return count_batch(environment_id, read_batch(data, now), now, written_at)


def count_batch(environment_id: int, batch: Batch, now: datetime, written_at: datetime | None = None) -> IngestResult:
    """Count a batch received at ``now``: all of its counts go to the bucket containing
    ``period_end`` (or ``now``, if the SDK's clock runs ahead of ours). The batch id is recorded in
    the same transaction, so a retry of a batch already counted changes nothing and is reported as
    a duplicate. A few statements whatever the batch's size: one upsert per table. ``written_at``:
    when it is counted, if later than ``now`` (the Redis inbox counts a batch after receiving it);
    a batch counted into a bucket that had settled by then is marked late (``_mark_late``)."""
    counted_at = min(batch.period_end, now)
    written_at = written_at or now
    entries = _merged_entries(batch.entries)
    unit_groups = _merged_unit_groups(batch.entries)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {MetricBatch._meta.db_table}
                (environment_id, batch_id, received_at, period_start, period_end,
                 sdk_name, sdk_version, document_version, entries, dropped)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (environment_id, batch_id) DO NOTHING
            RETURNING id
            """,
            [environment_id, batch.batch_id, now, batch.period_start, batch.period_end, batch.sdk_name,
             batch.sdk_version, batch.document_version, len(batch.entries), batch.dropped],
        )  # fmt: skip
        counted = cursor.fetchone()
        if counted is None:
            METRIC_BATCHES.labels("duplicate").inc()
            return IngestResult(accepted=0, duplicate=True)
        if entries:
            _add_to_bucket(cursor, environment_id, bucket_start(counted_at), entries, legacy=batch.format == 1)
            if unit_groups:
                _add_to_unit_bucket(cursor, environment_id, bucket_start(counted_at), counted[0], unit_groups)
            if bucket_settled(bucket_start(counted_at), written_at):
                _mark_late(cursor, environment_id, sorted({entry.flag for entry in entries}), bucket_start(counted_at),
                           written_at)  # fmt: skip
            evaluated = sorted({entry.flag for entry in entries if entry.evaluations > 0})
            if evaluated:
                _mark_evaluated(cursor, environment_id, evaluated, counted_at)
    METRIC_BATCHES.labels("ingested").inc()
    return IngestResult(accepted=len(batch.entries), duplicate=False)


def _mark_late(cursor: CursorWrapper, environment_id: int, flag_keys: list[str], start: datetime,
               at: datetime) -> None:  # fmt: skip
    """Record that the flags' bucket beginning at ``start`` was counted into at ``at``, after it
    had settled (``LateBucket``, one row per flag and bucket with its latest write): one upsert,
    in the counting transaction, made only by a late batch."""
    table = LateBucket._meta.db_table
    cursor.execute(
        f"""
        INSERT INTO {table} (environment_id, flag_key, bucket_start, written_at)
        SELECT %s, key, %s, %s FROM unnest(%s::text[]) WITH ORDINALITY AS k(key, position)
        ORDER BY position
        ON CONFLICT (environment_id, flag_key, bucket_start) DO UPDATE SET
            written_at = GREATEST({table}.written_at, EXCLUDED.written_at)
        """,
        [environment_id, start, at, _text_array(flag_keys)],
    )


def _merged_entries(entries: list[Entry]) -> list[Entry]:
    """One entry per (flag, variant), sorted: one upsert may not touch a row twice, and a fixed
    order makes concurrent batches lock bucket rows in the same order (no deadlocks)."""
    merged: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        key = (entry.flag, entry.variant)
        earlier = merged.get(key)
        merged[key] = entry if earlier is None else _sum(earlier, entry)
    return [merged[key] for key in sorted(merged)]


def _sum(a: Entry, b: Entry) -> Entry:
    """Two entries of one series in one batch, added (their unit groups are added later, per
    group, by ``_merged_unit_groups``)."""
    if a.latency_counts is None or b.latency_counts is None:
        counts = a.latency_counts or b.latency_counts
    else:
        counts = [x + y for x, y in zip(a.latency_counts, b.latency_counts, strict=True)]
    return Entry(a.flag, a.variant, a.evaluations + b.evaluations, a.successes + b.successes, a.errors + b.errors,
                 counts, a.latency_sum + b.latency_sum, None)  # fmt: skip


def _merged_unit_groups(entries: list[Entry]) -> list[tuple[str, str, UnitGroups]]:
    """The unit groups of each (flag, variant) that has some, sorted like ``_merged_entries`` (a
    series' groups are in order: the wire format says so)."""
    merged: dict[tuple[str, str], UnitGroups] = {}
    for entry in entries:
        if entry.units is not None and entry.units.group:
            key = (entry.flag, entry.variant)
            earlier = merged.get(key)
            merged[key] = entry.units if earlier is None else _groups_sum(earlier, entry.units)
    return [(*key, merged[key]) for key in sorted(merged)]


def _groups_sum(a: UnitGroups, b: UnitGroups) -> UnitGroups:
    """The unit groups of two entries of one series in one batch, added group by group."""
    rows = {g: (s, e, c) for g, s, e, c in zip(a.group, a.successes, a.errors, a.latency_counts, strict=True)}
    for g, s, e, c in zip(b.group, b.successes, b.errors, b.latency_counts, strict=True):
        earlier = rows.get(g)
        rows[g] = (s, e, c) if earlier is None else (earlier[0] + s, earlier[1] + e,
                                                     [x + y for x, y in zip(earlier[2], c, strict=True)])  # fmt: skip
    order = sorted(rows)
    return UnitGroups(order, [rows[g][0] for g in order], [rows[g][1] for g in order], [rows[g][2] for g in order])


def _add_to_unit_bucket(cursor: CursorWrapper, environment_id: int, start: datetime, batch: int,
                        series: list[tuple[str, str, UnitGroups]]) -> None:  # fmt: skip
    """A ``MetricUnitBucket`` row of batch ``batch`` per series (``_merged_unit_groups``), appended:
    one INSERT of every row, each row's arrays sliced from the batch's (a slice of an array of
    numbers is read at its offset). The histograms are sent sparse, their counts that are not zero
    at their bins (group * ``HISTOGRAM_SIZE`` + index), found at C speed (``compress`` over the
    batch's counts in one list): a series' 224 counts (16 groups) are mostly zeros, and PostgreSQL
    parsing them all cost more than the row (10,000 series: ~60 ms)."""
    table = MetricUnitBucket._meta.db_table
    groups = list(itertools.chain.from_iterable(units.group for *_, units in series))
    counts = list(itertools.chain.from_iterable(itertools.chain.from_iterable(
        units.latency_counts for *_, units in series)))  # fmt: skip
    where = list(itertools.compress(range(len(counts)), counts))
    group_ends = list(itertools.accumulate(len(units.group) for *_, units in series))
    bin_ends = [bisect.bisect_left(where, end * HISTOGRAM_SIZE) for end in group_ends]
    columns = [
        _text_array([flag for flag, _, _ in series]),
        _text_array([variant for _, variant, _ in series]),
        _array([0, *group_ends[:-1]]),
        _array(group_ends),
        _array([0, *bin_ends[:-1]]),
        _array(bin_ends),
        _array(groups),
        *(_array(itertools.chain.from_iterable(getattr(units, name) for *_, units in series))
          for name in ("successes", "errors")),
        _array([groups[i // HISTOGRAM_SIZE] * HISTOGRAM_SIZE + i % HISTOGRAM_SIZE for i in where]),
        _array([counts[i] for i in where]),
    ]  # fmt: skip
    cursor.execute(
        f"""
        INSERT INTO {table}
            (environment_id, flag_key, variant, bucket_start, batch, unit_groups, successes, errors, latency_bins,
             latency_counts)
        SELECT %s, r.flag, r.variant, %s, %s, a.groups[r.first + 1 : r.last], a.successes[r.first + 1 : r.last],
               a.errors[r.first + 1 : r.last], a.bins[r.first_bin + 1 : r.last_bin],
               a.counts[r.first_bin + 1 : r.last_bin]
        FROM unnest(%s::text[], %s::text[], %s::int[], %s::int[], %s::int[], %s::int[])
                AS r(flag, variant, first, last, first_bin, last_bin),
             (SELECT %s::smallint[] AS groups, %s::bigint[] AS successes, %s::bigint[] AS errors,
                     %s::smallint[] AS bins, %s::bigint[] AS counts) a
        """,
        [environment_id, start, batch, *columns],
    )


def _add_to_bucket(cursor: CursorWrapper, environment_id: int, start: datetime, entries: list[Entry],
                   legacy: bool) -> None:  # fmt: skip
    """One INSERT … ON CONFLICT DO UPDATE for the whole batch (``entries`` merged and sorted);
    histograms add elementwise. The rows travel column by column, as array literals unnested in
    the rows' order (``_array``): PostgreSQL reads those at about half the cost of a JSON text of
    rows (``json_to_recordset``), and Python writes them faster too. ``legacy``: a
    wire-format-1 batch, whose signals are counted as ``ungrouped_signals`` too."""
    table = MetricBucket._meta.db_table
    signals = [entry.successes + entry.errors for entry in entries]
    histograms = zip(*[entry.latency_counts or _EMPTY_HISTOGRAM for entry in entries], strict=True)
    columns = [
        _text_array([entry.flag for entry in entries]),
        _text_array([entry.variant for entry in entries]),
        _array([entry.evaluations for entry in entries]),
        _array([entry.successes for entry in entries]),
        _array([entry.errors for entry in entries]),
        _array([entry.latency_sum for entry in entries]),
        _array(signals if legacy else [0] * len(entries)),
        *map(_array, histograms),
    ]
    cursor.execute(
        f"""
        INSERT INTO {table}
            (environment_id, flag_key, variant, bucket_start,
             evaluations, successes, errors, latency_counts, latency_sum, ungrouped_signals)
        SELECT %s, r.flag, r.variant, %s, r.evaluations, r.successes, r.errors,
               ARRAY[{", ".join(f"r.{column}" for column in _HISTOGRAM_COLUMNS)}], r.latency_sum, r.ungrouped
        FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[], %s::bigint[], %s::float8[], %s::bigint[],
                    {", ".join(["%s::bigint[]"] * HISTOGRAM_SIZE)})
            WITH ORDINALITY AS r(flag, variant, evaluations, successes, errors, latency_sum, ungrouped,
                                 {", ".join(_HISTOGRAM_COLUMNS)}, position)
        ORDER BY r.position
        ON CONFLICT (environment_id, flag_key, variant, bucket_start) DO UPDATE SET
            evaluations = {table}.evaluations + EXCLUDED.evaluations,
            successes = {table}.successes + EXCLUDED.successes,
            errors = {table}.errors + EXCLUDED.errors,
            latency_counts = {_elementwise_sum(table, "latency_counts")},
            latency_sum = {table}.latency_sum + EXCLUDED.latency_sum,
            ungrouped_signals = {table}.ungrouped_signals + EXCLUDED.ungrouped_signals
        """,
        [environment_id, start, *columns],
    )


def _array(values: Iterable[float]) -> str:
    """A PostgreSQL array literal of numbers, ``{1,2,3.5}``: JSON's text of the list between its
    brackets (``json`` writes it in C; the values are finite, so JSON spells them as PostgreSQL
    reads them)."""
    return "{" + json.dumps(list(values), separators=(",", ":"))[1:-1] + "}"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text_array(values: Sequence[str]) -> str:
    """A PostgreSQL array literal of strings, each quoted (``"a,b"``) with ``\\`` and ``"`` escaped."""
    return "{" + ",".join(map(_quoted, values)) + "}"


def _elementwise_sum(table: str, column: str) -> str:
    """SQL adding ``EXCLUDED.column`` to ``table.column``, latency histograms, element by element:
    ``ARRAY[t.c[1] + EXCLUDED.c[1], …]``, at a fraction of unnest's cost per row (10,000 rows:
    ~30 vs ~120 ms)."""
    terms = ", ".join(f"{table}.{column}[{i}] + EXCLUDED.{column}[{i}]" for i in range(1, HISTOGRAM_SIZE + 1))
    return f"ARRAY[{terms}]"


def _mark_evaluated(cursor: CursorWrapper, environment_id: int, flag_keys: list[str], at: datetime) -> None:
    """Record that the flags were evaluated at ``at``. A flag's row is rewritten only when this
    moves its last evaluation on by ACTIVITY_RESOLUTION or its first one back: every SDK reports
    every few seconds, and what the row is for (stale flags) needs no finer time. The rows that
    stay as they are, nearly all, are left out before the upsert, which would lock each of them
    (a write to its page) even when it changes nothing; its own condition still decides a row
    another batch inserted meanwhile. The check is a scalar subquery, one index lookup per key
    whatever the table's statistics say (as NOT EXISTS, a table the planner believed empty was
    scanned once per key: 1.2 s for 5,000 flags)."""
    table = FlagActivity._meta.db_table
    params: dict[str, Any] = {"environment": environment_id, "at": at, "keys": _text_array(flag_keys),
                              "resolution": ACTIVITY_RESOLUTION}  # fmt: skip  # psycopg adapts the timedelta
    cursor.execute(
        f"""
        INSERT INTO {table} (environment_id, flag_key, first_evaluated_at, last_evaluated_at)
        SELECT %(environment)s, key, %(at)s, %(at)s
        FROM unnest(%(keys)s::text[]) WITH ORDINALITY AS k(key, position)
        WHERE (
            SELECT a.last_evaluated_at > %(at)s - %(resolution)s AND a.first_evaluated_at <= %(at)s
            FROM {table} a WHERE a.environment_id = %(environment)s AND a.flag_key = k.key
        ) IS NOT TRUE
        ORDER BY position
        ON CONFLICT (environment_id, flag_key) DO UPDATE SET
            first_evaluated_at = LEAST({table}.first_evaluated_at, EXCLUDED.first_evaluated_at),
            last_evaluated_at = GREATEST({table}.last_evaluated_at, EXCLUDED.last_evaluated_at)
        WHERE {table}.last_evaluated_at <= EXCLUDED.last_evaluated_at - %(resolution)s
           OR {table}.first_evaluated_at > EXCLUDED.first_evaluated_at
        """,
        params,
    )


_FOLD_SQL = """
    WITH folded AS (
        SELECT environment_id, flag_key, variant, bucket_start FROM {table}
        WHERE bucket_start >= %(since)s AND bucket_start < %(until)s
        GROUP BY environment_id, flag_key, variant, bucket_start HAVING COUNT(*) > 1
    ),
    gone AS (
        DELETE FROM {table} r USING folded f
        WHERE (r.environment_id, r.flag_key, r.variant, r.bucket_start)
            = (f.environment_id, f.flag_key, f.variant, f.bucket_start)
        RETURNING r.*
    ),
    signals AS (
        SELECT environment_id, flag_key, variant, bucket_start, g.unit_group,
               SUM(g.successes)::bigint AS successes, SUM(g.errors)::bigint AS errors
        FROM gone, unnest(unit_groups, successes, errors) AS g(unit_group, successes, errors)
        GROUP BY environment_id, flag_key, variant, bucket_start, g.unit_group
    ),
    latencies AS (
        SELECT environment_id, flag_key, variant, bucket_start, l.bin, SUM(l.c)::bigint AS c
        FROM gone, unnest(latency_bins, latency_counts) AS l(bin, c)
        GROUP BY environment_id, flag_key, variant, bucket_start, l.bin
    )
    INSERT INTO {table}
        (environment_id, flag_key, variant, bucket_start, batch, unit_groups, successes, errors, latency_bins,
         latency_counts)
    SELECT k.environment_id, k.flag_key, k.variant, k.bucket_start, k.batch, g.groups, g.successes, g.errors,
           COALESCE(l.bins, '{{}}'), COALESCE(l.counts, '{{}}')
    FROM (SELECT environment_id, flag_key, variant, bucket_start, MIN(batch) AS batch FROM gone
          GROUP BY environment_id, flag_key, variant, bucket_start) k
    JOIN (SELECT environment_id, flag_key, variant, bucket_start, array_agg(unit_group ORDER BY unit_group) AS groups,
                 array_agg(successes ORDER BY unit_group) AS successes, array_agg(errors ORDER BY unit_group) AS errors
          FROM signals GROUP BY environment_id, flag_key, variant, bucket_start) g
        USING (environment_id, flag_key, variant, bucket_start)
    LEFT JOIN (SELECT environment_id, flag_key, variant, bucket_start, array_agg(bin ORDER BY bin) AS bins,
                      array_agg(c ORDER BY bin) AS counts
               FROM latencies WHERE c <> 0 GROUP BY environment_id, flag_key, variant, bucket_start) l
        USING (environment_id, flag_key, variant, bucket_start)
"""


def compact(now: datetime | None = None) -> int:
    """Fold the ``MetricUnitBucket`` rows of each series' bucket that several batches wrote (an SDK
    instance each) into one row, their sums, for the buckets that ended METRICS_COMPACT_AFTER_S
    ago and began METRICS_COMPACT_SPAN_S ago at most: a read adds up a bucket's rows, and a service
    of 64 instances writes 64 a bucket. One statement (the rows are deleted and their sum inserted
    at once, under the smallest of their batch numbers), so a reader sees the rows or their sum,
    the same totals, and a batch counted meanwhile keeps its own row, folded by a later run; the
    counts do not change, so nothing is marked late. A late batch into an older bucket keeps its
    row. Returns the buckets folded."""
    now = now or timezone.now()
    until = now - timedelta(seconds=settings.METRICS_COMPACT_AFTER_S + settings.METRICS_BUCKET_SECONDS)
    since = now - timedelta(seconds=settings.METRICS_COMPACT_SPAN_S)
    with connection.cursor() as cursor:
        cursor.execute(_FOLD_SQL.format(table=MetricUnitBucket._meta.db_table), {"since": since, "until": until})
        folded: int = cursor.rowcount
        return folded


def oldest_kept(now: datetime) -> datetime:
    """The start of the oldest bucket ``prune`` keeps at ``now``: METRICS_RETENTION_DAYS before it."""
    return now - timedelta(days=settings.METRICS_RETENTION_DAYS)


def prune(now: datetime | None = None) -> dict[str, int]:
    """Delete buckets (and their late marks) older than METRICS_RETENTION_DAYS and batch ids older
    than METRICS_BATCH_RETENTION_HOURS (the ingest endpoint refuses batches that old, so a retry can
    never outlive the id that recognises it). Flag activity is kept: it is one row per flag."""
    now = now or timezone.now()
    oldest = oldest_kept(now)
    buckets, _ = MetricBucket.objects.filter(bucket_start__lt=oldest).delete()
    unit_buckets, _ = MetricUnitBucket.objects.filter(bucket_start__lt=oldest).delete()
    LateBucket.objects.filter(bucket_start__lt=oldest).delete()
    batches, _ = MetricBatch.objects.filter(
        received_at__lt=now - timedelta(hours=settings.METRICS_BATCH_RETENTION_HOURS)
    ).delete()
    return {"buckets": buckets, "unit_buckets": unit_buckets, "batches": batches}
