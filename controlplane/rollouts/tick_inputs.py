"""What the engine reads before one tick: each rule's counts, the sample-ratio traffic, the external check.

The read side of a tick, apart from its writes (``services.py``): metric sources are measured and
the external check is called here, before the plan is locked, so a slow endpoint never holds the
lock a person's rollback waits for. ``sdk_source`` records what SDK periods a tick reads (a batch's
are measured together); ``read`` returns one plan's ``RuleObservation`` list and ``Gates`` for ``decision.decide``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from django.conf import settings

from controlplane import outbound
from controlplane.metrics.errors import SourceError
from controlplane.metrics.services import bucket_start
from controlplane.metrics.sources import HttpJsonSource, Measurement, MetricSource, PrometheusSource
from controlplane.rollouts.clock import moment
from controlplane.rollouts.decision import Gates
from controlplane.rollouts.measurements import Stored, TickMeasurements
from controlplane.rollouts.models import HealthRule, RolloutPlan, SourceCounts
from controlplane.rollouts.observations import ArmCounts, RuleObservation, SegmentCounts
from controlplane.rollouts.plan_spec import PlanRuntime
from controlplane.rollouts.stored_sources import ClosedPeriodsStored

logger = logging.getLogger(__name__)

# An external value read over HTTP is taken as a measured rate over this many requests.
HTTP_SOURCE_WEIGHT = 1_000_000


def sdk_source(plan: RolloutPlan, runtime: PlanRuntime, now: float, stored: Stored) -> TickMeasurements:
    """The SDK source of one tick of ``plan`` with its ``stored`` counts, which has recorded the
    periods its SDK rules and sample-ratio check read (``TickMeasurements.record``):
    ``measurements.prefetch`` measures a batch of them in one query."""
    source = TickMeasurements(plan, now, stored, growing=_stage_periods(runtime))
    sdk_rules = [rule for rule in plan.rules.all() if rule.source == HealthRule.Source.SDK]
    source.record(lambda recorder: _counts(plan, sdk_rules, runtime, now, recorder, []))
    return source


def read(
    plan: RolloutPlan, runtime: PlanRuntime, now: float, sdk_source: TickMeasurements
) -> tuple[list[RuleObservation], Gates, list[SourceCounts]]:
    """Every rule's observation and the current stage's gates, for one tick of ``plan``, its SDK
    counts read from ``sdk_source`` (``sdk_source``'s, prefetched; its ``store`` keeps what later
    ticks may read instead, in the tick's transaction), and the closed periods of its Prometheus
    rules measured for the first time (``stored_sources.store`` keeps them, in the same transaction)."""
    closed: list[SourceCounts] = []
    observations, traffic = _counts(plan, list(plan.rules.all()), runtime, now, sdk_source, closed)
    return observations, replace(gates(plan, runtime, now), traffic=traffic), closed


def _counts(
    plan: RolloutPlan,
    rules: list[HealthRule],
    runtime: PlanRuntime,
    now: float,
    sdk_source: TickMeasurements,
    closed: list[SourceCounts],
) -> tuple[list[RuleObservation], tuple[SegmentCounts, ...]]:
    """The rules' observations and the sample-ratio check's traffic."""
    observations = [observe(plan, rule, runtime, now, sdk_source, closed) for rule in rules]
    return observations, sample_ratio_traffic(plan, runtime, now, sdk_source)


def source_for(
    plan: RolloutPlan, rule: HealthRule, sdk_source: MetricSource, now: float, closed: list[SourceCounts]
) -> MetricSource:
    """``rule``'s source; a Prometheus rule's adds the closed periods it measures to ``closed``."""
    if rule.source == HealthRule.Source.HTTP:
        return HttpJsonSource(rule.source_url, rule.source_json_path)
    if rule.source == HealthRule.Source.PROMETHEUS:
        prometheus = PrometheusSource(
            rule.source_url or settings.ROLLOUTS_PROMETHEUS_URL,
            rule.source_events_query,
            rule.source_total_query,
            environment=plan.environment.key,
        )
        return ClosedPeriodsStored(rule, prometheus, now, closed)
    return sdk_source


def observe(
    plan: RolloutPlan,
    rule: HealthRule,
    runtime: PlanRuntime,
    now: float,
    sdk_source: MetricSource,
    closed: list[SourceCounts],
) -> RuleObservation:
    """Counts for one rule: per stage served in the current run, and (absolute thresholds) the
    treatment's over the rule's window.

    Times are widened to whole metric buckets: a bucket that straddles a boundary counts for
    the later period, so no report is lost between two stages.
    """
    try:
        source = source_for(plan, rule, sdk_source, now, closed)
    except SourceError as exc:  # e.g. a JSON path it cannot parse: this rule has no data, the others still count
        logger.warning("Health rule %s of %s cannot be read: %s", rule.key, plan, exc)
        return RuleObservation(rule_id=rule.key)

    def arm(variant: str, since: float, until: float | None) -> ArmCounts:
        return _arm_counts(_measure(source.measure, plan, variant, since, until), rule)

    def period(since: float, until: float | None) -> SegmentCounts:
        return SegmentCounts(
            treatment=arm(plan.treatment_variant, since, until), control=arm(plan.control_variant, since, until)
        )

    def treatment_window() -> SegmentCounts:
        run_started_at = runtime.run_started_at or now
        return SegmentCounts(treatment=arm(plan.treatment_variant, max(now - rule.window_s, run_started_at), None))

    try:
        if isinstance(source, HttpJsonSource):  # one number about the treatment, no per-stage counts
            return RuleObservation(rule_id=rule.key, window=treatment_window())
        starts = list(runtime.segment_starts)
        segments = tuple(
            period(start, starts[i + 1] if i + 1 < len(starts) else None) for i, start in enumerate(starts)
        )
        # Only an absolute threshold reads the trailing window, and only the treatment's.
        window = treatment_window() if rule.comparison == HealthRule.Comparison.ABSOLUTE else None
        return RuleObservation(rule_id=rule.key, segments=segments, window=window)
    except SourceError as exc:
        logger.warning("Health rule %s of %s has no data this tick: %s", rule.key, plan, exc)
        return RuleObservation(rule_id=rule.key)


Read = Callable[[int, str, Sequence[str], datetime, datetime | None], Measurement]
"""A source's ``measure`` (or the SDK source's ``traffic``)."""


def _measure(read: Read, plan: RolloutPlan, variant: str, since: float, until: float | None) -> Measurement:
    """One variant's measurement from ``since`` to ``until`` (None: now), widened to whole buckets."""
    return read(
        plan.environment_id, plan.flag.key, [variant], _bucket(since), _bucket(until) if until is not None else None
    )


def _bucket(at: float) -> datetime:
    return bucket_start(moment(at))


def _traffic_since(stage_start: float) -> float:
    """Where a stage's traffic for the sample-ratio check begins: SDKs need a moment to pick up a new split."""
    return stage_start + settings.ROLLOUTS_SAMPLE_RATIO_SETTLE_S


def _stage_periods(runtime: PlanRuntime) -> set[tuple[datetime, datetime | None]]:
    """The periods that grow with their stage, as their reads ask for them: each stage's (the
    rules' counts) and its traffic's (the sample-ratio check's), to the next stage's start or now."""
    starts = list(runtime.segment_starts)
    ends = [_bucket(start) for start in starts[1:]] + [None]
    return {
        (_bucket(at), end) for start, end in zip(starts, ends, strict=True) for at in (start, _traffic_since(start))
    }


def _arm_counts(measurement: Measurement, rule: HealthRule | None) -> ArmCounts:
    """The decision core's counts for one arm (``rule`` None: the traffic of the sample-ratio check)."""
    if isinstance(measurement, float | int):
        # An external value is taken as a measured rate over many requests: no sampling noise.
        rate = min(max(float(measurement), 0.0), 1.0)
        return ArmCounts(total=HTTP_SOURCE_WEIGHT, events=round(rate * HTTP_SOURCE_WEIGHT))
    if rule is not None and rule.metric == HealthRule.Metric.LATENCY:
        return ArmCounts(
            total=sum(measurement.histogram),
            histogram=tuple(measurement.histogram),
            group_histograms=measurement.unit_histograms,
            ungrouped=measurement.ungrouped,
        )
    return ArmCounts(
        total=measurement.requests,
        events=measurement.errors,
        groups=tuple(zip(measurement.unit_requests, measurement.unit_errors, strict=True)),
        ungrouped=measurement.ungrouped,
    )


def sample_ratio_traffic(
    plan: RolloutPlan, runtime: PlanRuntime, now: float, sdk_source: TickMeasurements
) -> tuple[SegmentCounts, ...]:
    """Both arms' SDK health signals per stage of the run, each from the stage's start plus
    ``ROLLOUTS_SAMPLE_RATIO_SETTLE_S`` (SDKs need a moment to pick up a new split): ``Gates.traffic``
    (their traffic only: the check reads no latencies)."""
    starts = list(runtime.segment_starts)
    segments = []
    for i, start in enumerate(starts):
        since = _traffic_since(start)
        until = starts[i + 1] if i + 1 < len(starts) else None
        if since >= (until if until is not None else now):
            segments.append(SegmentCounts())
            continue
        treatment, control = (
            _arm_counts(_measure(sdk_source.traffic, plan, variant, since, until), None)
            for variant in (plan.treatment_variant, plan.control_variant)
        )
        segments.append(SegmentCounts(treatment=treatment, control=control))
    return tuple(segments)


def gates(plan: RolloutPlan, runtime: PlanRuntime, now: float) -> Gates:
    """Call the current stage's external check once its dwell is over (Flagger's confirm-promotion)."""
    stage = plan.stages.all()[runtime.stage_index]
    if not stage.external_check_url or runtime.stage_started_at is None:
        return Gates()
    if now < runtime.stage_started_at + stage.min_dwell_s:
        return Gates(external_check_ok=None)
    try:
        answer = outbound.request("GET", stage.external_check_url, timeout=settings.ROLLOUTS_EXTERNAL_CHECK_TIMEOUT_S)
    except outbound.OutboundError as exc:
        logger.info("External check of %s failed: %s", plan, exc)
        return Gates(external_check_ok=False)
    if not answer.ok:
        logger.info("External check of %s answered %s", plan, answer.summary)
    return Gates(external_check_ok=answer.ok)
