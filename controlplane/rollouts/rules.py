"""Health-rule evaluation: one rule's counts in, its verdict with the numbers behind it out.

Pure functions over the plan's ``RuleSpec`` and a tick's ``RuleObservation``; the statistics are
in ``unit_stats.py`` and ``stats.py`` (docs/rollout-statistics.md). ``decision.decide`` calls
``evaluate_rule`` for every rule of the plan on every tick.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from . import stats, unit_stats
from .observations import ArmCounts, RuleObservation, SegmentCounts
from .plan_spec import Comparison, Metric, PlanSpec, RuleSpec, Severity
from .wording import duration, level, metric_name, ms, pp, rate, tolerance_text, unit_phrase

Verdict = Literal["pass", "fail", "inconclusive", "insufficient_data"]


@dataclass(frozen=True)
class RuleOutcome:
    """The result of one rule at one tick, with the numbers behind it.

    Rates are fractions, latencies milliseconds. ``treatment_value`` and
    ``control_value`` are the pooled rates (or estimated percentiles) over the
    counts used. For comparative rate rules ``statistic`` is the estimated
    difference ``p_t - p_c``, combined stage by stage (so with several stages
    it can differ slightly from ``treatment_value - control_value``); for latency it is
    the difference of the fractions of requests slower than ``cutoff``; for
    absolute thresholds it is the treatment value over the window.
    ``lower``/``upper``: the confidence-sequence bounds on ``statistic`` (None
    for absolute thresholds). ``threshold``: the rule's tolerance or limit as
    configured; ``cutoff``: the latency that decided a latency rule.
    ``summary``: a short human phrase with the numbers.
    Comparative rules also say how they were judged: ``basis`` is ``"units"``
    (variance from the unit groups) or ``"requests"`` (no unit groups: per
    request, conservatively); ``std_error`` is the standard error the bounds
    use and ``request_std_error`` what counting requests as independent would
    give; ``design_effect`` is the treatment's variance ratio between the two;
    ``treatment_groups``/``control_groups`` the effective unit groups per arm.
    """

    rule_id: str
    verdict: Verdict
    severity: Severity
    metric: Metric
    comparison: Comparison
    treatment_n: int
    treatment_events: int
    control_n: int
    control_events: int
    treatment_value: float | None
    control_value: float | None
    statistic: float | None
    lower: float | None
    upper: float | None
    threshold: float
    cutoff: float | None
    summary: str
    basis: str = ""
    std_error: float | None = None
    request_std_error: float | None = None
    design_effect: float | None = None
    treatment_groups: float | None = None
    control_groups: float | None = None

    def __post_init__(self) -> None:
        # Non-finite numbers (no usable data on one side) become None so the outcome can be
        # stored as JSON anywhere (PostgreSQL's jsonb rejects NaN and Infinity).
        for name in _OPTIONAL_NUMBERS:
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                object.__setattr__(self, name, None)


_OPTIONAL_NUMBERS = (
    "treatment_value",
    "control_value",
    "statistic",
    "lower",
    "upper",
    "cutoff",
    "std_error",
    "request_std_error",
    "design_effect",
    "treatment_groups",
    "control_groups",
)


def _sum_arm(segments: Sequence[SegmentCounts], arm: str) -> tuple[int, int]:
    total = sum(getattr(s, arm).total for s in segments)
    events = sum(getattr(s, arm).events for s in segments)
    return total, events


def _sum_histograms(segments: Sequence[SegmentCounts], arm: str, size: int) -> list[int]:
    merged = [0] * size
    for segment in segments:
        histogram = getattr(segment, arm).histogram
        if not histogram:
            continue
        if len(histogram) != size:
            raise ValueError(f"histogram has {len(histogram)} buckets, expected {size}")
        for i, count in enumerate(histogram):
            merged[i] += count
    return merged


def _insufficient(rule: RuleSpec, n_t: int, e_t: int, n_c: int, e_c: int, where: str) -> RuleOutcome:
    have = f"{n_t} treatment / {n_c} control samples" if rule.is_comparative else f"{n_t} treatment samples"
    return RuleOutcome(
        rule_id=rule.id,
        verdict="insufficient_data",
        severity=rule.severity,
        metric=rule.metric,
        comparison=rule.comparison,
        treatment_n=n_t,
        treatment_events=e_t,
        control_n=n_c,
        control_events=e_c,
        treatment_value=None,
        control_value=None,
        statistic=None,
        lower=None,
        upper=None,
        threshold=rule.threshold,
        cutoff=None,
        summary=f"{have}{where} of {rule.min_samples} needed",
    )


@dataclass(frozen=True)
class Levels:
    """Error budget of one comparative rule at one tick.

    ``fail``: one-sided level of the lower bound that can fire the rule (the plan's alpha split
    over its comparative rules, so that a plan whose treatment is healthy on every rule is
    falsely rolled back or paused with probability at most alpha however many rules it has).
    ``pass_``: one-sided level of the upper bound that lets the rule pass (the plan's alpha: a
    plan advances only when every rule passes, so each may use all of it).
    """

    fail: float
    pass_: float

    @classmethod
    def for_plan(cls, plan: PlanSpec) -> Levels:
        comparative = sum(1 for rule in plan.rules if rule.is_comparative)
        return cls(fail=plan.alpha / max(1, comparative), pass_=plan.alpha)

    def bounds_text(self) -> str:
        if self.fail == self.pass_:
            return f"{level(self.fail)} bounds"
        return f"{level(self.fail)} lower / {level(self.pass_)} upper bounds"


ArmGroupCounts = tuple[tuple[tuple[int, int], ...], int, int, int]
"""An arm's (groups, ungrouped, total, events) as a comparative rule counts them."""


def _judged_arms(
    segments: Sequence[SegmentCounts], counts_of: Callable[[ArmCounts], ArmGroupCounts]
) -> tuple[str, list[list[tuple[int, int]]], list[list[tuple[int, int]]]]:
    """The basis and the per-segment group counts of both arms a comparative rule uses.

    ``counts_of(arm)`` gives an arm's (groups, ungrouped, total, events). Units when every
    segment of both arms came with unit groups and none without; otherwise requests (each
    segment one group of the totals).
    """
    parts = [(counts_of(s.treatment), counts_of(s.control)) for s in segments]
    legacy = sum(t[1] + c[1] for t, c in parts)
    grouped = all(t[0] and c[0] for t, c in parts)
    if grouped and not legacy:
        return "units", [list(t[0]) for t, _ in parts], [list(c[0]) for _, c in parts]
    treatment = unit_stats.legacy_segments([(t[2], t[3]) for t, _ in parts])
    control = unit_stats.legacy_segments([(c[2], c[3]) for _, c in parts])
    return "requests", treatment, control


def _too_few_units(rule: RuleSpec, diff: unit_stats.UnitBounds) -> RuleOutcome | None:
    treatment, control = diff.effective_groups
    if diff.basis != "units" or min(treatment, control) >= unit_stats.MIN_EFFECTIVE_GROUPS:
        return None
    outcome = _insufficient(rule, diff.treatment_n, diff.treatment_events, diff.control_n, diff.control_events, "")
    summary = (
        f"{diff.treatment_n} treatment / {diff.control_n} control samples, but from too few units: "
        f"{treatment:.1f} / {control:.1f} effective unit groups of {unit_stats.MIN_EFFECTIVE_GROUPS:g} needed"
    )
    return replace(outcome, summary=summary, basis="units", treatment_groups=treatment, control_groups=control)


def _comparison_outcome(
    rule: RuleSpec,
    diff: unit_stats.UnitBounds,
    verdict: Verdict,
    summary: str,
    treatment_value: float,
    control_value: float,
    cutoff: float | None,
) -> RuleOutcome:
    """The outcome of a treatment-vs-control rule: counts and bounds from the contrast ``diff``."""
    treatment_groups, control_groups = diff.effective_groups
    return RuleOutcome(
        rule_id=rule.id,
        verdict=verdict,
        severity=rule.severity,
        metric=rule.metric,
        comparison=rule.comparison,
        treatment_n=diff.treatment_n,
        treatment_events=diff.treatment_events,
        control_n=diff.control_n,
        control_events=diff.control_events,
        treatment_value=treatment_value,
        control_value=control_value,
        statistic=diff.estimate,
        lower=diff.lower,
        upper=diff.upper,
        threshold=rule.threshold,
        cutoff=cutoff,
        summary=f"{summary}; {unit_phrase(diff)}",
        basis=diff.basis,
        std_error=diff.std_error,
        request_std_error=diff.request_std_error,
        design_effect=diff.design_effect,
        treatment_groups=treatment_groups if diff.basis == "units" else None,
        control_groups=control_groups if diff.basis == "units" else None,
    )


def _rate_counts(arm: ArmCounts) -> ArmGroupCounts:
    return arm.groups, arm.ungrouped, arm.total, arm.events


def _evaluate_rate_comparison(rule: RuleSpec, obs: RuleObservation, levels: Levels) -> RuleOutcome:
    # Only periods in which both variants were served say anything about the difference
    # (a 100% stage has no control); minimum samples are counted over those periods.
    segments = [s for s in obs.segments if s.treatment.total > 0 and s.control.total > 0]
    n_t, e_t = _sum_arm(segments, "treatment")
    n_c, e_c = _sum_arm(segments, "control")
    if n_t < rule.min_samples or n_c < rule.min_samples:
        return _insufficient(rule, n_t, e_t, n_c, e_c, "")
    basis, treatment, control = _judged_arms(segments, _rate_counts)
    control_rate = e_c / n_c
    if rule.comparison == "vs_control_absolute":
        multiplier = 1.0
        mixing = rule.mixing_sd or max(rule.threshold, 1e-4)
        floor = min(0.5, control_rate + rule.threshold)
    else:
        multiplier = 1.0 + rule.threshold
        mixing = rule.mixing_sd or max(rule.threshold * control_rate, 1e-4)
        floor = min(0.5, control_rate * multiplier)
    diff = unit_stats.contrast(
        treatment, control, levels.fail, levels.pass_, mixing, treatment_rate_floor=floor, basis=basis
    )
    too_few = _too_few_units(rule, diff)
    if too_few is not None:
        return too_few
    if multiplier == 1.0:
        excess_estimate, excess_upper = diff.estimate - rule.threshold, diff.upper - rule.threshold
    else:
        relative = unit_stats.contrast(
            treatment, control, levels.fail, levels.pass_, mixing, multiplier, floor, basis=basis
        )
        excess_estimate, excess_upper = relative.estimate, relative.upper
    treatment_rate = diff.treatment_rate
    control_rate = diff.control_rate
    name = metric_name(rule)
    numbers = (
        f"treatment {name} {rate(treatment_rate)} vs control {rate(control_rate)} "
        f"(difference {pp(diff.estimate)}, {levels.bounds_text()} {pp(diff.lower)} to {pp(diff.upper)})"
    )
    tolerance = tolerance_text(rule)
    if diff.lower > 0 and excess_estimate > 0:
        verdict: Verdict = "fail"
        summary = (
            f"treatment {name} {rate(treatment_rate)} vs control {rate(control_rate)} "
            f"(difference {pp(diff.estimate)}, {level(levels.fail)} lower bound {pp(diff.lower)}) is "
            f"significantly worse and exceeds the tolerance of {tolerance}"
        )
    elif excess_upper < 0:
        verdict = "pass"
        summary = f"{numbers}: no worse than the tolerance of {tolerance}"
    else:
        verdict = "inconclusive"
        summary = f"{numbers}: not yet shown to be within the tolerance of {tolerance}"
    return _comparison_outcome(rule, diff, verdict, summary, treatment_rate, control_rate, cutoff=None)


def _evaluate_latency_comparison(rule: RuleSpec, obs: RuleObservation, levels: Levels) -> RuleOutcome:
    """Latency percentile vs control, reduced to proportions of slow requests.

    The cutoff is the control's estimated quantile plus the tolerance (or times
    1 + tolerance). "Treatment quantile > cutoff" is the same statement as
    "more than 1 - q of treatment requests are slower than the cutoff". The
    rule fails when the treatment has significantly more slow requests than
    control at the cutoff and its estimated quantile is beyond the cutoff; it
    passes when the upper bound of the treatment's slow fraction is under
    1 - q. The cutoff is estimated from control data and treated as known.
    Per unit like the rate rules: each unit group's slow requests at the cutoff.
    """
    q = rule.percentile
    assert q is not None
    bounds = rule.bucket_bounds_ms
    size = len(bounds) + 1
    segments = [s for s in obs.segments if sum(s.treatment.histogram) > 0 and sum(s.control.histogram) > 0]
    hist_t = _sum_histograms(segments, "treatment", size)
    hist_c = _sum_histograms(segments, "control", size)
    n_t, n_c = sum(hist_t), sum(hist_c)
    if n_t < rule.min_samples or n_c < rule.min_samples:
        return _insufficient(rule, n_t, 0, n_c, 0, "")
    control_q = stats.histogram_quantile(bounds, hist_c, q)
    treatment_q = stats.histogram_quantile(bounds, hist_t, q)
    if rule.comparison == "vs_control_absolute":
        cutoff = control_q + rule.threshold
    else:
        cutoff = control_q * (1.0 + rule.threshold)

    def slow_counts(arm: ArmCounts) -> ArmGroupCounts:
        *groups_slow, slow = stats.slow_counts(bounds, (*arm.group_histograms, arm.histogram), cutoff)
        return (
            tuple(zip(map(sum, arm.group_histograms), groups_slow, strict=True)),
            arm.ungrouped,
            sum(arm.histogram),
            slow,
        )

    basis, treatment, control = _judged_arms(segments, slow_counts)
    allowed = 1.0 - q
    mixing = rule.mixing_sd or allowed / 2.0
    control_slow = sum(e for s in control for _, e in s) / max(1, sum(n for s in control for n, _ in s))
    diff = unit_stats.contrast(
        treatment, control, levels.fail, levels.pass_, mixing, treatment_rate_floor=min(0.5, control_slow), basis=basis
    )
    too_few = _too_few_units(rule, diff)
    if too_few is not None:
        return too_few
    treatment_slow = unit_stats.proportion(
        treatment, levels.pass_, mixing, rate_floor=min(0.5, allowed), design_effect=diff.design_effect, basis=basis
    )
    name = metric_name(rule)
    numbers = (
        f"treatment {name} {ms(treatment_q)} vs control {ms(control_q)}; "
        f"{rate(diff.treatment_rate)} vs {rate(diff.control_rate)} of requests slower than "
        f"{ms(cutoff)} (difference {pp(diff.estimate)}, {levels.bounds_text()} {pp(diff.lower)} "
        f"to {pp(diff.upper)})"
    )
    tolerance = tolerance_text(rule)
    if diff.lower > 0 and diff.treatment_rate > allowed:
        verdict: Verdict = "fail"
        summary = f"{numbers}: significantly slower, beyond the tolerance of {tolerance}"
    elif treatment_slow.upper < allowed:
        verdict = "pass"
        summary = f"{numbers}: within the tolerance of {tolerance}"
    else:
        verdict = "inconclusive"
        summary = f"{numbers}: not yet shown to be within the tolerance of {tolerance}"
    return _comparison_outcome(rule, diff, verdict, summary, treatment_q, control_q, cutoff=cutoff)


def _evaluate_absolute(rule: RuleSpec, obs: RuleObservation, previous_streak: int) -> tuple[RuleOutcome, int]:
    """Absolute threshold on the treatment over the trailing window.

    Deliberately a point-estimate check (like the thresholds operators already
    use): it fires as soon as ``confirmations`` consecutive evaluations with at
    least ``min_samples`` trials in the window see the value above the limit.
    Noise control is the window and min_samples; see the statistics doc.
    """
    window = obs.window or SegmentCounts()
    arm = window.treatment
    if rule.metric == "latency_p":
        q = rule.percentile
        assert q is not None
        histogram = arm.histogram or (0,) * (len(rule.bucket_bounds_ms) + 1)
        total = sum(histogram)
        if total < rule.min_samples:
            return _insufficient(rule, total, 0, 0, 0, " in the window"), 0
        slow = stats.slow_count(rule.bucket_bounds_ms, histogram, rule.threshold)
        value = stats.histogram_quantile(rule.bucket_bounds_ms, histogram, q)
        breach = slow / total > 1.0 - q
        events = slow
        numbers = (
            f"treatment {metric_name(rule)} {ms(value)} over the last "
            f"{duration(rule.window_s)} ({rate(slow / total)} of {total} requests slower "
            f"than {ms(rule.threshold)})"
        )
        limit = ms(rule.threshold)
    else:
        total, events = arm.total, arm.events
        if total < rule.min_samples:
            return _insufficient(rule, total, events, 0, 0, " in the window"), 0
        value = events / total
        breach = value > rule.threshold
        numbers = (
            f"treatment {metric_name(rule)} {rate(value)} over the last {duration(rule.window_s)} ({events} of {total})"
        )
        limit = rate(rule.threshold)
    streak = previous_streak + 1 if breach else 0
    if breach and streak >= rule.confirmations:
        verdict: Verdict = "fail"
        summary = f"{numbers} is above the limit of {limit}"
    elif breach:
        verdict = "inconclusive"
        summary = f"{numbers} is above the limit of {limit} ({streak} of {rule.confirmations} confirmations)"
    else:
        verdict = "pass"
        summary = f"{numbers} is within the limit of {limit}"
    outcome = RuleOutcome(
        rule_id=rule.id,
        verdict=verdict,
        severity=rule.severity,
        metric=rule.metric,
        comparison=rule.comparison,
        treatment_n=total,
        treatment_events=events,
        control_n=0,
        control_events=0,
        treatment_value=value,
        control_value=None,
        statistic=value,
        lower=None,
        upper=None,
        threshold=rule.threshold,
        cutoff=rule.threshold if rule.metric == "latency_p" else None,
        summary=summary,
    )
    return outcome, streak


def evaluate_rule(
    rule: RuleSpec, observation: RuleObservation | None, levels: Levels, previous_streak: int = 0
) -> tuple[RuleOutcome, int]:
    """Evaluate one rule; returns the outcome and the new breach streak.

    ``levels``: the rule's share of the plan's error budget (``Levels.for_plan(plan)``).
    """
    obs = observation or RuleObservation(rule.id)
    if rule.comparison == "absolute_threshold":
        return _evaluate_absolute(rule, obs, previous_streak)
    if rule.metric == "latency_p":
        return _evaluate_latency_comparison(rule, obs, levels), 0
    return _evaluate_rate_comparison(rule, obs, levels), 0
