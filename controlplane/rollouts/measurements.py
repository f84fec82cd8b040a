"""The SDK counts one tick of a plan reads: every period in one batch, closed stages from storage.

A tick asks the SDK source for several periods of both arms: each stage of the run per rule, the
rules' trailing window, each stage again for the sample-ratio check. ``TickMeasurements`` learns
which by running the tick's SDK reads once against a recorder (so the periods stay defined in one
place, the code that reads them), then measures them all in two queries
(``metrics.queries.arm_counts_many``). A period that ended before its stage closed no longer
changes once its reports have arrived (``ROLLOUTS_SAMPLE_RATIO_SETTLE_S`` after its end, the time
SDKs take to catch up): it is stored as ``StageCounts`` the first time and read from there after.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from controlplane.metrics.histogram import HISTOGRAM_SIZE, STANDARD_BOUNDS_MS
from controlplane.metrics.queries import ArmTotals, arm_counts, arm_counts_many
from controlplane.rollouts.clock import moment
from controlplane.rollouts.models import RolloutPlan, StageCounts

Key = tuple[tuple[str, ...], datetime, datetime | None]

NOTHING = ArmTotals(
    requests=0, errors=0, evaluations=0, histogram=(0,) * HISTOGRAM_SIZE, bounds_ms=STANDARD_BOUNDS_MS, latency_sum=0.0
)


class TickMeasurements:
    """A ``MetricSource`` of SDK counts for one tick of ``plan``: each period measured once."""

    def __init__(self, plan: RolloutPlan, now: float) -> None:
        self.plan = plan
        self.now = moment(now)
        self.measured: dict[Key, ArmTotals] = {}
        self.wanted: list[Key] | None = None

    def measure(
        self,
        environment_id: int,
        flag_key: str,
        variants: Sequence[str],
        since: datetime,
        until: datetime | None = None,
    ) -> ArmTotals:
        key = (tuple(variants), since, until)
        if key not in self.measured:
            if self.wanted is not None:
                self.wanted.append(key)
                return NOTHING
            # A period the prefetch did not see (none in a tick: its second pass asks for the same).
            self.measured[key] = arm_counts(environment_id, flag_key, variants, since, until)
        return self.measured[key]

    def prefetch(self, reads: Callable[[TickMeasurements], Any]) -> None:
        """Measure every period ``reads`` (the tick's SDK reads, called with this source) asks for."""
        self.wanted = []
        try:
            reads(self)
            wanted = list(dict.fromkeys(self.wanted))
        finally:
            self.wanted = None
        settled = [key for key in wanted if self._settled(key)]
        self.measured.update(self._stored(settled))
        missing = [key for key in wanted if key not in self.measured]
        plan = self.plan
        self.measured.update(zip(missing, arm_counts_many(plan.environment_id, plan.flag.key, missing), strict=True))
        self._store([key for key in settled if key in missing])

    def _settled(self, key: Key) -> bool:
        """A closed window of one arm whose reports have all arrived (its counts no longer change)."""
        variants, _, until = key
        settle = timedelta(seconds=settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S)
        return until is not None and len(variants) == 1 and until + settle <= self.now

    def _stored(self, settled: list[Key]) -> dict[Key, ArmTotals]:
        if not settled:
            return {}
        # The plan's rows, as the batch read them (services.load_active) or, if it did not, in one query.
        stored = {((row.variant,), row.since, row.until): row.totals for row in self.plan.stage_counts.all()}
        return {key: totals_from_json(stored[key]) for key in settled if key in stored}

    def _store(self, settled: list[Key]) -> None:
        rows = []
        for key in settled:
            variants, since, until = key
            if until is not None:  # always, for a settled window: this tells the type checker
                totals = asdict(self.measured[key])
                rows.append(StageCounts(plan=self.plan, variant=variants[0], since=since, until=until, totals=totals))
        # ignore_conflicts: another worker's tick of the same plan may have stored them first.
        StageCounts.objects.bulk_create(rows, ignore_conflicts=True)


def totals_from_json(data: dict[str, Any]) -> ArmTotals:
    """``ArmTotals`` back from its stored form (JSON has lists where it has tuples)."""
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
