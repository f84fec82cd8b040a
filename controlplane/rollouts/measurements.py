"""The SDK counts one tick of a plan reads: every period in one batch, the settled part from storage.

A tick asks the SDK source for several periods of both arms: each stage of the run per rule, the
rules' trailing window, each stage again for the sample-ratio check. ``TickMeasurements`` learns
which by running the tick's SDK reads once against a recorder (so the periods stay defined in one
place, the code that reads them), then measures them, with those of the other plans of its batch,
in one query (``prefetch``, ``metrics.queries.arm_counts_many``).

A bucket is settled ``ROLLOUTS_SAMPLE_RATIO_SETTLE_S`` after its end (the time SDKs take to report
it), and a tick counts each settled bucket of a stage's periods once:

- a period that ended before its stage closed and has settled is stored as ``StageCounts`` the
  first time and read from there after;
- a period that is still growing (the open stage's, from the stage's start) keeps its settled
  buckets as ``RunningCounts``: the next tick counts only the buckets from where those end and
  adds them. They move on once ``ADVANCE`` more has settled (each move rewrites their row).

Stored counts keep only buckets settled ``models.IN_FLIGHT`` (60 s) more, by when every on-time
batch of them has committed. A batch that arrives later (an SDK retries an unsent one for up to 15
minutes, the Redis inbox is drained after an outage) marks its bucket (``metrics.LateBucket``, with
the time it was counted), and a stored row of the flag whose period holds a marked bucket, counted
less than ``IN_FLIGHT`` after that mark's time or before it (``SdkCounts.recount``, read with the
rows), is counted again from the buckets and rewritten with the tick's time. So a tick reads two to
three minutes of its open stage's buckets, and a late batch counts in its stage, open or closed,
unless the stored row's period begins before the oldest bucket the metrics keep
(``METRICS_RETENTION_DAYS``): that row keeps its totals, without the late batch.
Stored counts of finished plans and of earlier runs are deleted by ``prune`` (hourly).

A new stage or run begins periods with a new start, which have no stored counts yet; stored counts
of a period are the same whichever run read them (they are the settled buckets of the flag's arm
from ``since`` to ``until``), so they can never count a bucket twice or leave one out.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import fields, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection

from controlplane.metrics.histogram import HISTOGRAM_SIZE, STANDARD_BOUNDS_MS
from controlplane.metrics.queries import ArmTotals, Window, arm_counts_many
from controlplane.metrics.services import bucket_settled, bucket_start, oldest_kept
from controlplane.rollouts.clock import moment
from controlplane.rollouts.models import (
    IN_FLIGHT,
    HealthRule,
    RolloutPlan,
    RunningCounts,
    SdkCounts,
    SourceCounts,
    StageCounts,
)

Key = tuple[tuple[str, ...], datetime, datetime | None]
Start = tuple[tuple[str, ...], datetime]
"""The arm and start of a period: what its running counts are stored by."""

logger = logging.getLogger(__name__)

NOTHING = ArmTotals(
    requests=0, errors=0, evaluations=0, histogram=(0,) * HISTOGRAM_SIZE, bounds_ms=STANDARD_BOUNDS_MS, latency_sum=0.0
)
NO_TRAFFIC = replace(NOTHING, latencies=False)

Stored = tuple[list[StageCounts], list[RunningCounts]]
"""A plan's stored SDK counts, with their ``recount``: its closed periods' and its running ones."""


def stored_counts(plan_ids: Collection[int]) -> dict[int, Stored]:
    """The stored SDK counts of the plans ``plan_ids`` (a batch), by plan: one query a table. Not a
    prefetch of the plans' relations, which cloned a queryset a plan and table (0.3 ms a plan)."""
    stored: dict[int, Stored] = {plan_id: ([], []) for plan_id in plan_ids}
    for row in StageCounts.objects.with_recount().filter(plan_id__in=plan_ids).order_by():
        stored[row.plan_id][0].append(row)
    for running in RunningCounts.objects.with_recount().filter(plan_id__in=plan_ids).order_by():
        stored[running.plan_id][1].append(running)
    return stored


ADVANCE = timedelta(minutes=1)
"""Running counts move on once this much more can be stored: a tick reads at most this much (plus
the buckets not settled ``IN_FLIGHT`` ago) from the buckets, and a plan's rows are rewritten about
once a minute."""


def settled(variants: Sequence[str], until: datetime | None, now: datetime) -> bool:
    """A closed window of one arm whose reports have all arrived by ``now``: its last bucket (it is
    bucket-aligned) has settled, so its counts no longer change and may be stored."""
    if until is None or len(variants) != 1:
        return False
    return bucket_settled(until - timedelta(seconds=settings.METRICS_BUCKET_SECONDS), now)


class TickMeasurements:
    """A ``MetricSource`` of SDK counts for one tick of ``plan``: each period measured once.

    ``growing``: the periods that grow with their stage (bucket-aligned ``(since, until)``), the
    only ones whose settled part is kept as ``RunningCounts``. A rule's trailing window is not one
    even when it begins where a stage does (within ``window_s`` of the run's start): it is counted
    from that stage's running counts where they fit, never moves them, so one tick moves a row once.
    """

    def __init__(
        self, plan: RolloutPlan, now: float, stored: Stored, growing: Collection[tuple[datetime, datetime | None]] = ()
    ) -> None:
        self.plan = plan
        self.stored = stored
        """The plan's stored counts (``stored_counts``)."""
        self.now = moment(now)
        self.growing = frozenset(growing)
        self.measured: dict[Key, ArmTotals] = {}
        self.wanted: dict[Key, bool] | None = None
        """While recording: each period asked for, and whether with its latencies."""
        self._counting: dict[Key, tuple[ArmTotals, datetime, list[Key]]] = {}
        """Once recorded: each period to count, what it has counted already, since when, and the
        windows it still needs (``_remaining``)."""
        self.pending: list[Window] = []
        """Once recorded: the bucket windows to count (``prefetch``)."""
        self.to_store: tuple[dict[Key, datetime], list[RunningCounts]] = ({}, [])
        """What ``prefetch`` counted that later ticks may read instead (``store``)."""

    def measure(
        self,
        environment_id: int,
        flag_key: str,
        variants: Sequence[str],
        since: datetime,
        until: datetime | None = None,
    ) -> ArmTotals:
        return self._read(environment_id, flag_key, (tuple(variants), since, until), latencies=True)

    def traffic(
        self, environment_id: int, flag_key: str, variants: Sequence[str], since: datetime, until: datetime | None
    ) -> ArmTotals:
        """``measure`` without the latencies (``ArmTotals.latencies``): the sample-ratio check's counts."""
        return self._read(environment_id, flag_key, (tuple(variants), since, until), latencies=False)

    def _read(self, environment_id: int, flag_key: str, key: Key, latencies: bool) -> ArmTotals:
        if self.wanted is not None:
            self.wanted[key] = self.wanted.get(key, False) or latencies
            return NOTHING
        totals = self.measured.get(key)
        if totals is None or (latencies and not totals.latencies):
            # A period the prefetch did not see (none in a tick: its second pass asks for the same).
            totals = self.measured[key] = arm_counts_many([Window(environment_id, flag_key, *key, latencies)])[0]
        return totals

    def record(self, reads: Callable[[TickMeasurements], Any]) -> None:
        """Learn the periods ``reads`` (the tick's SDK reads, called with this source) asks for, and
        the bucket windows they still need (``pending``): those neither stored whole nor in running
        counts. ``prefetch`` then counts them, with other plans'. Nothing is written."""
        self.wanted = {}
        try:
            reads(self)
            wanted = self.wanted
        finally:
            self.wanted = None
        closed, running = self._stored(wanted)
        self.measured.update(closed)
        self._counting = {
            key: self._remaining(key, wanted[key], running.get(key[:2])) for key in wanted if key not in self.measured
        }
        environment_id, flag_key = self.plan.environment_id, self.plan.flag.key
        self.pending = [
            Window(environment_id, flag_key, variants, since, until, wanted[key])
            for key, (_, _, remaining) in self._counting.items()
            for variants, since, until in remaining
        ]

    def _add(self, counted: Iterator[ArmTotals]) -> None:
        """The counts of the ``pending`` windows, in order, added to what was stored; what may be
        stored kept for ``store``."""
        moved = []
        for key, (totals, counted_at, remaining) in self._counting.items():
            for number, (variants, _, end) in enumerate(remaining):
                totals = totals.plus(next(counted))
                if number == 0 and len(remaining) == 2 and end is not None:  # the running counts move on to end
                    row = RunningCounts(plan=self.plan, variant=variants[0], since=key[1], until=end,
                                        counts=totals_to_bytes(totals), counted_at=counted_at)  # fmt: skip
                    moved.append(row)
            self.measured[key] = totals
        self.to_store = ({key: counting[1] for key, counting in self._counting.items() if self._settled(key)}, moved)
        self._counting, self.pending = {}, []

    def _remaining(
        self, key: Key, latencies: bool, running: RunningCounts | None
    ) -> tuple[ArmTotals, datetime, list[Key]]:
        """What ``key`` has counted already (its ``running`` counts, when they end within it and
        were counted as it is: with its ``latencies`` or without), since when (``counted_at``), and
        the windows of buckets it still needs: two when the running counts move on (to the end of
        the first)."""
        variants, since, until = key
        totals, counted_at = (NOTHING if latencies else NO_TRAFFIC), self.now
        if running is not None and (until is None or running.until <= until):
            stored = totals_from_bytes(running.counts)
            if stored.latencies == latencies:  # counted as it is: with its latencies or without
                since, totals, counted_at = running.until, stored, running.counted_at
        if len(variants) == 1 and key[1:] in self.growing and not self._settled(key):
            settle = timedelta(seconds=settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S)
            stored_end = bucket_start(self.now - settle - IN_FLIGHT)
            end = stored_end if until is None else min(stored_end, until)
            if end >= since + ADVANCE:
                return totals, counted_at, [(variants, since, end), (variants, end, until)]
        return totals, counted_at, [(variants, since, until)]

    def _settled(self, key: Key) -> bool:
        """Whether ``key`` may be stored whole: settled ``IN_FLIGHT`` ago."""
        variants, _, until = key
        return settled(variants, until, self.now - IN_FLIGHT)

    def _stored(self, wanted: dict[Key, bool]) -> tuple[dict[Key, ArmTotals], dict[Start, RunningCounts]]:
        """The settled ``wanted`` periods' ``StageCounts`` (those counted as wanted: with their
        latencies or without), and the plan's ``RunningCounts`` by arm and start; rows to be counted
        again (``recount``) left out."""
        settled = {key for key in wanted if self._settled(key)}
        stage_counts, running_counts = self.stored
        closed: dict[Key, ArmTotals] = {
            key: totals
            for row in stage_counts
            if (key := ((row.variant,), row.since, row.until)) in settled and not self._recounted(row)
            and (totals := totals_from_bytes(row.counts)).latencies == wanted[key]
        }  # fmt: skip
        running: dict[Start, RunningCounts] = {
            ((row.variant,), row.since): row for row in running_counts if not self._recounted(row)
        }
        return closed, running

    def _recounted(self, row: SdkCounts) -> bool:
        """Whether ``row`` is counted again (``recount``). Not when its period begins before the
        oldest bucket the metrics keep (``metrics.prune``): counting it from its buckets would lose
        the pruned ones, so it keeps its totals without the late batch (logged once a process)."""
        if not row.recount:
            return False
        if row.since >= oldest_kept(self.now):
            return True
        kept = (type(row).__name__, self.plan.pk, row.variant, row.since)
        if kept not in _KEPT_WHOLE:
            _KEPT_WHOLE.add(kept)
            logger.warning(
                "%s of plan %s (%s since %s) has a bucket counted late but is not counted again: its period"
                " begins before the oldest bucket kept (METRICS_RETENTION_DAYS); it keeps its totals",
                *kept,
            )
        return False

    def rows(self) -> tuple[list[StageCounts], list[RunningCounts]]:
        """What ``store_many`` stores of this source: the settled periods ``prefetch`` counted (with
        when their counts were read) and the running counts it moved on."""
        settled, moved = self.to_store
        rows = []
        for key, counted_at in settled.items():
            variants, since, until = key
            if until is not None:  # always, for a settled window: this tells the type checker
                counts = totals_to_bytes(self.measured[key])
                rows.append(StageCounts(plan=self.plan, variant=variants[0], since=since, until=until,
                                        counts=counts, counted_at=counted_at))  # fmt: skip
        return rows, moved


def store_many(sources: Sequence[TickMeasurements]) -> None:
    """Store what ``sources`` counted (``TickMeasurements.rows``), in one upsert a table for all of
    them (none where there is nothing to store). Whichever tick of a plan writes a row last, it
    holds the buckets' counts as read at its ``counted_at`` or after (another worker's tick of the
    same plan may write them too)."""
    stage_rows: list[StageCounts] = []
    running_rows: list[RunningCounts] = []
    for source in sources:
        stage, running = source.rows()
        stage_rows += stage
        running_rows += running
    StageCounts.objects.bulk_create(
        stage_rows,
        update_conflicts=True,
        unique_fields=["plan", "variant", "since", "until"],
        update_fields=["counts", "counted_at"],
    )
    RunningCounts.objects.bulk_create(
        running_rows,
        update_conflicts=True,
        unique_fields=["plan", "variant", "since"],
        update_fields=["until", "counts", "counted_at"],
    )


def prefetch(sources: Sequence[TickMeasurements], failed: Callable[[TickMeasurements], None]) -> None:
    """Count what each of ``sources`` (``record``ed) still needs from the buckets, for all of them in
    one query. Nothing is written: each source's ``store`` keeps what it may store, in its tick's
    transaction. If that query fails, each source is counted alone; a source whose counts cannot
    be read or added is given to ``failed`` (the others are counted all the same)."""
    try:
        counted: list[list[ArmTotals] | None] = list(_counted(sources))
    except Exception:
        if len(sources) == 1:
            failed(sources[0])
            return
        logger.warning("The SDK counts of %s plans failed together; counting each alone", len(sources), exc_info=True)
        counted = [None] * len(sources)
    for source, totals in zip(sources, counted, strict=True):
        try:
            source._add(iter(totals if totals is not None else _counted([source])[0]))
        except Exception:
            failed(source)


def _counted(sources: Sequence[TickMeasurements]) -> list[list[ArmTotals]]:
    counted = iter(arm_counts_many([window for source in sources for window in source.pending]))
    return [[next(counted) for _ in source.pending] for source in sources]


_KEPT_WHOLE: set[tuple[str, int, str, datetime]] = set()
"""The rows ``_recounted`` kept whole in this process, so that each is logged once."""


def totals_to_json(totals: ArmTotals) -> dict[str, Any]:
    """``totals`` as ``SourceCounts`` stores them (a source's, with its own bounds): its fields as
    they are, the tuples written as JSON lists. Not ``dataclasses.asdict``, which copies each of the
    unit groups' ~900 histogram counts one by one (2 ms a row)."""
    return {field.name: getattr(totals, field.name) for field in fields(totals)}


def totals_from_json(data: dict[str, Any]) -> ArmTotals:
    """``ArmTotals`` back from its stored form (``totals_to_json``; JSON has lists where it has tuples)."""
    return ArmTotals(
        **{
            **data,
            "histogram": tuple(data["histogram"]),
            "bounds_ms": tuple(data["bounds_ms"]),
            "unit_requests": tuple(data["unit_requests"]),
            "unit_errors": tuple(data["unit_errors"]),
            "unit_histograms": tuple(tuple(group) for group in data["unit_histograms"]),
        }
    )


_HEADER = struct.Struct("<d8q")
"""Packed totals begin with ``latency_sum``, then ``requests``, ``errors``, ``evaluations``,
``ungrouped``, ``latencies`` (1 or 0), and the lengths of ``histogram``, ``unit_requests`` (and
``unit_errors``) and ``unit_histograms``; the counts follow as 8-byte integers, in that order."""


def totals_to_bytes(totals: ArmTotals) -> bytes:
    """SDK ``totals`` as ``StageCounts`` and ``RunningCounts`` store them: packed (``_HEADER``), the
    standard bounds implied."""
    if totals.bounds_ms != STANDARD_BOUNDS_MS:
        raise ValueError("SDK counts have the standard latency bounds.")
    counts = [*totals.histogram, *totals.unit_requests, *totals.unit_errors]
    counts.extend(count for group in totals.unit_histograms for count in group)
    header = _HEADER.pack(
        totals.latency_sum, totals.requests, totals.errors, totals.evaluations, totals.ungrouped,
        totals.latencies, len(totals.histogram), len(totals.unit_requests), len(totals.unit_histograms),
    )  # fmt: skip
    return header + struct.pack(f"<{len(counts)}q", *counts)


def totals_from_bytes(data: bytes | memoryview) -> ArmTotals:
    """``ArmTotals`` back from ``totals_to_bytes``'s."""
    latency_sum, requests, errors, evaluations, ungrouped, latencies, size, groups, histograms = _HEADER.unpack_from(
        data
    )
    counts = struct.unpack_from(f"<{size + 2 * groups + histograms * size}q", data, _HEADER.size)
    first = size + 2 * groups
    return ArmTotals(
        requests=requests,
        errors=errors,
        evaluations=evaluations,
        histogram=counts[:size],
        bounds_ms=STANDARD_BOUNDS_MS,
        latency_sum=latency_sum,
        ungrouped=ungrouped,
        unit_requests=counts[size : size + groups],
        unit_errors=counts[size + groups : first],
        unit_histograms=tuple(counts[at : at + size] for at in range(first, len(counts), size)),
        latencies=bool(latencies),
    )


_OF_NO_USE = """
    p.status <> ALL(%(active)s)
    OR c.since < to_timestamp(floor((p.runtime->>'run_started_at')::float8 / %(width)s) * %(width)s)
"""
"""Stored counts no tick reads again: of a plan that is finished (completed, cancelled, or rolled
back, whose resume begins a new run), or of a run before the plan's current one (each period of a
run begins at or after the bucket of its start)."""


def prune() -> dict[str, int]:
    """Delete the stored counts no tick reads again (``_OF_NO_USE``): each plan's, and each
    Prometheus rule's, in one statement a table."""
    plans = RolloutPlan._meta.db_table
    params: dict[str, Any] = {"active": list(RolloutPlan.ACTIVE), "width": settings.METRICS_BUCKET_SECONDS}
    deleted = {}
    with connection.cursor() as cursor:
        for model in (StageCounts, RunningCounts):
            table = model._meta.db_table
            cursor.execute(f"DELETE FROM {table} c USING {plans} p WHERE c.plan_id = p.id AND ({_OF_NO_USE})", params)
            deleted[table.removeprefix("rollouts_")] = cursor.rowcount
        rules = HealthRule._meta.db_table
        cursor.execute(
            f"""DELETE FROM {SourceCounts._meta.db_table} c USING {rules} r, {plans} p
                WHERE c.rule_id = r.id AND r.plan_id = p.id AND ({_OF_NO_USE})""",
            params,
        )
        deleted["sourcecounts"] = cursor.rowcount
    return deleted
