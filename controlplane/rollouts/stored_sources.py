"""A health rule's external source whose closed periods are queried once.

A tick asks a Prometheus rule for both arms of every stage of the run. A stage that closed
``ROLLOUTS_SAMPLE_RATIO_SETTLE_S`` ago or more no longer changes (its samples have been scraped):
its counts are stored as ``SourceCounts`` the first time and read from there after, as
``measurements.TickMeasurements`` does with SDK counts. HTTP sources read one open window and
have nothing closed to store.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from controlplane.metrics.queries import ArmTotals
from controlplane.metrics.sources import Measurement, MetricSource
from controlplane.rollouts.clock import moment
from controlplane.rollouts.measurements import settled, totals_from_json, totals_to_json
from controlplane.rollouts.models import HealthRule, SourceCounts


class ClosedPeriodsStored:
    """A ``MetricSource``: ``rule``'s ``source`` measured live, except closed periods whose data
    has arrived by ``now``, measured once and stored (read with the batch in ``services.load_active``).
    What it measures of them for the first time is added to ``closed``, for ``store`` to write in
    the tick's transaction (with its decision, as SDK counts are; not if the tick stands down)."""

    def __init__(self, rule: HealthRule, source: MetricSource, now: float, closed: list[SourceCounts]) -> None:
        self.rule = rule
        self.source = source
        self.now = moment(now)
        self.closed = closed

    def measure(
        self,
        environment_id: int,
        flag_key: str,
        variants: Sequence[str],
        since: datetime,
        until: datetime | None = None,
    ) -> Measurement:
        if not settled(variants, until, self.now):
            return self.source.measure(environment_id, flag_key, variants, since, until)
        for row in [*self.rule.source_counts.all(), *self.closed]:
            if (row.rule_id, row.variant, row.since, row.until) == (self.rule.pk, variants[0], since, until):
                return totals_from_json(row.totals)
        measured = self.source.measure(environment_id, flag_key, variants, since, until)
        if isinstance(measured, ArmTotals):
            self.closed.append(
                SourceCounts(
                    rule=self.rule, variant=variants[0], since=since, until=until, totals=totals_to_json(measured)
                )
            )
        return measured


def store(closed: Sequence[SourceCounts]) -> None:
    """Write the closed periods ticks measured (``ClosedPeriodsStored.closed``); one another
    worker's tick of the same plan stored first is left as it is."""
    SourceCounts.objects.bulk_create(closed, ignore_conflicts=True)
