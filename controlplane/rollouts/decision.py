"""Pure decision core of progressive rollouts: health rules + stage state machine.

Everything here is plain data in, plain data out, with no I/O, no clock and
no Django: ``decide(plan, runtime, now, observations, gates)`` is a pure
function, and so are the person-driven transitions (``start``, ``pause``,
``resume``, ``approve``, ``promote``, ``rollback``, ``cancel``). The Celery
task converts models to these dataclasses, calls ``decide`` on every tick,
stores ``Decision.runtime`` and serves ``Decision.percent``; the simulator in
``bench/rollout_sim.py`` drives the very same code.

Times are seconds on any monotonic-enough scale (Unix epoch seconds in
Django). Percentages are treatment percentages in [0, 100]. Rates are
fractions in [0, 1] (1% == 0.01). Stage numbers in human-readable reasons are
1-based; ``stage_index`` fields are 0-based.

See docs/rollout-decisions.md for the state machine and docs/rollout-statistics.md
for the statistics.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from . import actions, plan_fields, stats, unit_stats

Status = Literal["draft", "running", "paused", "completed", "rolled_back", "cancelled"]
Action = Literal[
    # automatic (decide)
    "hold",
    "advance",
    "rollback",
    "pause",
    "complete",
    # person-driven (may also be "advance"/"rollback"/"pause"/"complete")
    "start",
    "resume",
    "approve",
    "cancel",
]
Actor = Literal["system", "person"]
Metric = Literal["error_rate", "latency_p", "ratio"]
Comparison = Literal["vs_control_absolute", "vs_control_relative", "absolute_threshold"]
Severity = Literal["rollback", "pause"]
AdvanceMode = Literal["time", "evidence"]
Verdict = Literal["pass", "fail", "inconclusive", "insufficient_data"]
WaitingOn = Literal["", "dwell", "min_samples", "evidence", "approval", "external_check", "person"]

NOT_ENOUGH_TRAFFIC = "not enough traffic"
SAMPLE_RATIO_ALPHA = 0.001
"""Two-sided error level of the sample-ratio check (its own budget: it pauses, never rolls back)."""
SAMPLE_RATIO_MIN_EXPECTED = 100.0
"""Treatment signals the split must predict before the sample-ratio check says anything."""
ACTIVE_STATUSES: frozenset[str] = frozenset({"running", "paused"})

_METRICS = ("error_rate", "latency_p", "ratio")
_COMPARISONS = ("vs_control_absolute", "vs_control_relative", "absolute_threshold")


class TransitionError(ValueError):
    """A person-driven transition that is not allowed from the current state."""


# ---------------------------------------------------------------------------
# Plan (configuration; immutable for the life of a rollout)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StageSpec:
    """One stage: serve ``percent`` % of traffic the treatment.

    ``min_dwell_s``: the stage never advances earlier than this after it started.
    ``needs_approval``: a person must ``approve`` this stage before it advances.
    ``external_check``: the stage advances only when the last external check
    (performed by the caller, see ``Gates.external_check_ok``) answered 2xx.
    """

    percent: float
    min_dwell_s: float
    needs_approval: bool = False
    external_check: bool = False


@dataclass(frozen=True)
class RuleSpec:
    """A health rule. Higher values of every metric are worse.

    ``metric``:
      * ``"error_rate"``: events = failed requests, total = requests.
      * ``"ratio"``: a custom counter ratio, events = bad events, total =
        denominator (each event must be one of the ``total`` trials, so the
        ratio is a proportion in [0, 1]).
      * ``"latency_p"``: the ``percentile`` (e.g. 0.95) of latency, from
        fixed-bucket histograms with upper bounds ``bucket_bounds_ms``.
    ``comparison`` and ``threshold``:
      * ``"vs_control_absolute"``: treatment may be worse than control by at
        most ``threshold`` (a rate difference for rates, e.g. 0.005 = 0.5 pp;
        milliseconds for latency).
      * ``"vs_control_relative"``: treatment may be worse than control by at
        most a fraction ``threshold`` (0.1 = 10% worse).
      * ``"absolute_threshold"``: the treatment value must stay at or below
        ``threshold`` (a rate, or milliseconds for latency).
    ``min_samples``: trials needed before the rule may decide anything (per
    arm for comparisons; in the window for absolute thresholds).
    ``window_s``: trailing window used by absolute-threshold rules only.
    Comparisons use all data since the run started (a confidence sequence over
    a sliding window would not be always-valid); the caller may ignore
    ``window_s`` for them.
    ``severity``: ``"rollback"`` (treatment to 0%) or ``"pause"`` (hold the
    percentage and wait for a person).
    ``confirmations``: absolute-threshold rules fire after this many
    consecutive breaching evaluations (1 = on the tick the breach is seen).
    ``mixing_sd``: tau of the confidence sequence, in the unit of the contrast
    (rate difference; exceedance-fraction difference for latency). ``None``
    picks a default from the tolerance (docs/rollout-statistics.md).
    """

    id: str
    metric: Metric
    comparison: Comparison
    threshold: float
    severity: Severity = "rollback"
    min_samples: int = plan_fields.MIN_SAMPLES
    window_s: float = float(plan_fields.WINDOW_S)
    percentile: float | None = None
    bucket_bounds_ms: tuple[float, ...] = ()
    confirmations: int = 1
    name: str = ""
    mixing_sd: float | None = None

    def __post_init__(self) -> None:
        if self.metric not in _METRICS:
            raise ValueError(f"rule {self.id!r}: unknown metric {self.metric!r}")
        if self.comparison not in _COMPARISONS:
            raise ValueError(f"rule {self.id!r}: unknown comparison {self.comparison!r}")
        if self.severity not in ("rollback", "pause"):
            raise ValueError(f"rule {self.id!r}: unknown severity {self.severity!r}")
        if self.threshold < 0 or math.isnan(self.threshold):
            raise ValueError(f"rule {self.id!r}: threshold must be >= 0")
        if self.min_samples < 1:
            raise ValueError(f"rule {self.id!r}: min_samples must be >= 1")
        if self.confirmations < 1:
            raise ValueError(f"rule {self.id!r}: confirmations must be >= 1")
        if self.mixing_sd is not None and self.mixing_sd <= 0:
            raise ValueError(f"rule {self.id!r}: mixing_sd must be positive")
        if self.metric == "latency_p":
            if self.percentile is None or not 0.0 < self.percentile < 1.0:
                raise ValueError(f"rule {self.id!r}: latency_p needs 0 < percentile < 1")
            if not self.bucket_bounds_ms:
                raise ValueError(f"rule {self.id!r}: latency_p needs bucket_bounds_ms")
            bounds = self.bucket_bounds_ms
            if any(b2 <= b1 for b1, b2 in itertools.pairwise(bounds)):
                raise ValueError(f"rule {self.id!r}: bucket bounds must increase")
        elif self.comparison != "vs_control_relative" and self.threshold > 1:
            raise ValueError(f"rule {self.id!r}: a rate threshold must be <= 1")

    @property
    def label(self) -> str:
        return self.name or self.id

    @property
    def is_comparative(self) -> bool:
        return self.comparison != "absolute_threshold"


@dataclass(frozen=True)
class PlanSpec:
    """A rollout plan for one flag in one environment.

    ``advance_mode``: ``"time"`` advances after the dwell once every rule has
    its minimum samples and none fails; ``"evidence"`` additionally holds until
    every comparative rule *passes* (the upper confidence bound of the
    degradation is under its tolerance), for at most ``max_hold_s`` after the
    dwell, then pauses for a person.
    ``starvation_timeout_s``: a stage that receives no new treatment data for
    this long (or is still short of minimum samples this long after its dwell)
    pauses with the reason "not enough traffic".
    ``alpha``: error probability of every confidence sequence (two-sided;
    bounds are 1 - alpha = 95% by default), valid over all ticks together.
    """

    stages: tuple[StageSpec, ...]
    rules: tuple[RuleSpec, ...] = ()
    advance_mode: AdvanceMode = "time"
    max_hold_s: float = float(plan_fields.MAX_HOLD_S)
    starvation_timeout_s: float = float(plan_fields.STARVATION_TIMEOUT_S)
    alpha: float = plan_fields.ALPHA

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("a plan needs at least one stage")
        previous = 0.0
        for i, stage in enumerate(self.stages):
            if not 0.0 < stage.percent <= 100.0:
                raise ValueError(f"stage {i + 1}: percent must be in (0, 100]")
            if abs(stage.percent * 1000 - round(stage.percent * 1000)) > 1e-6:
                raise ValueError(f"stage {i + 1}: percent granularity is 0.001")
            if stage.percent <= previous:
                raise ValueError(f"stage {i + 1}: percentages must strictly increase")
            if stage.min_dwell_s < 0:
                raise ValueError(f"stage {i + 1}: min_dwell_s must be >= 0")
            previous = stage.percent
        ids = [rule.id for rule in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("rule ids must be unique")
        if self.advance_mode not in ("time", "evidence"):
            raise ValueError(f"unknown advance_mode {self.advance_mode!r}")
        if not 0.0 < self.alpha < plan_fields.ALPHA_LIMIT:
            raise ValueError(f"alpha must be in (0, {plan_fields.ALPHA_LIMIT})")
        if self.max_hold_s < 0 or self.starvation_timeout_s <= 0:
            raise ValueError("max_hold_s must be >= 0 and starvation_timeout_s > 0")


# ---------------------------------------------------------------------------
# Runtime state (persisted by the caller between ticks)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleMemory:
    """What ``decide`` remembers about one rule between ticks.

    ``treatment_seen``: cumulative treatment trials of the run at the last
    evaluation; ``last_new_data_at``: when that number last grew (starvation);
    ``breach_streak``: consecutive breaching evaluations (absolute thresholds).
    """

    rule_id: str
    treatment_seen: int = 0
    last_new_data_at: float | None = None
    breach_streak: int = 0


@dataclass(frozen=True)
class PlanRuntime:
    """The mutable-by-replacement state of one rollout.

    ``status``: draft, running, paused, completed, rolled_back or cancelled.
    ``stage_index``: 0-based current stage (after a rollback: the stage at
    which it happened).
    ``stage_started_at``: start of the current stage's dwell clock.
    ``run_started_at``: start of the statistical baseline. Every start, resume
    and promote-from-pause starts a new *run*; observations must only count
    traffic served since ``run_started_at``.
    ``run_number``: increments with every new run (1 for the first).
    ``segment_starts``: start time of each stage served in the current run, in
    order; ``RuleObservation.segments[i]`` must hold the counts served from
    ``segment_starts[i]`` to ``segment_starts[i + 1]`` (or now).
    ``approved_stage_index``: the stage a person approved (``approve``).
    ``reason``: why the rollout is paused / rolled back / cancelled / done.
    ``rules``: per-rule memory (see ``RuleMemory``).
    ``updated_at``: time of the last decision.
    """

    status: Status = "draft"
    stage_index: int = 0
    stage_started_at: float | None = None
    run_started_at: float | None = None
    run_number: int = 0
    segment_starts: tuple[float, ...] = ()
    approved_stage_index: int | None = None
    reason: str = ""
    rules: tuple[RuleMemory, ...] = ()
    updated_at: float | None = None

    def memory(self, rule_id: str) -> RuleMemory:
        for item in self.rules:
            if item.rule_id == rule_id:
                return item
        return RuleMemory(rule_id)


# ---------------------------------------------------------------------------
# Observations and gates (inputs of one tick)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmCounts:
    """Counts for one variant.

    ``total``: trials (requests, or the ratio's denominator).
    ``events``: bad trials (errors, or the ratio's numerator).
    ``histogram``: latency bucket counts aligned with the rule's
    ``bucket_bounds_ms`` plus a final overflow bucket (latency rules only;
    ``total`` should equal its sum).
    ``groups``: (trials, events) per unit group (``flagplane.metrics.UNIT_GROUPS``
    hash groups of the randomisation unit) for the trials that came with one;
    ``group_histograms``: the latency histogram per unit group (latency rules).
    ``ungrouped``: trials reported by SDKs that send no unit groups (wire
    format 1). Comparative rules are judged per unit when every segment of
    both arms has groups and no ungrouped trials, otherwise conservatively per
    request (docs/rollout-statistics.md).
    """

    total: int = 0
    events: int = 0
    histogram: tuple[int, ...] = ()
    groups: tuple[tuple[int, int], ...] = ()
    group_histograms: tuple[tuple[int, ...], ...] = ()
    ungrouped: int = 0


@dataclass(frozen=True)
class SegmentCounts:
    """Counts of both variants over one period."""

    treatment: ArmCounts = field(default_factory=ArmCounts)
    control: ArmCounts = field(default_factory=ArmCounts)


@dataclass(frozen=True)
class RuleObservation:
    """Data for one rule at one tick.

    ``segments``: cumulative counts since ``runtime.run_started_at``, one entry
    per element of ``runtime.segment_starts`` (one per stage served in this
    run). Passing a single segment with everything since the run started is
    accepted (slightly approximate after a change of split). Used by
    comparative rules, by the minimum-sample check and by starvation detection.
    ``window``: counts over the trailing ``window_s`` (absolute-threshold rules;
    for them a non-empty window also counts as fresh data, so a source that
    only knows the window does not starve the stage).
    """

    rule_id: str
    segments: tuple[SegmentCounts, ...] = ()
    window: SegmentCounts | None = None


@dataclass(frozen=True)
class Gates:
    """Gate inputs for the current stage.

    ``approved``: a person approved the current stage (alternative to
    recording it with ``approve``). ``external_check_ok``: result of the most
    recent external check of the current stage (True = 2xx, False = failed,
    None = not performed yet). The caller performs the HTTP call, typically
    when the previous decision's ``waiting_on`` was ``"external_check"``.
    ``traffic``: the flag's health-signal counts with unit groups, one
    ``SegmentCounts`` per element of ``runtime.segment_starts``, each counted
    from a settling time after ``segment_starts[i]`` (a new split takes a
    while to reach every SDK, which serve the old one until then): the input
    of the sample-ratio check. Empty: no check.
    """

    approved: bool = False
    external_check_ok: bool | None = None
    traffic: tuple[SegmentCounts, ...] = ()


# ---------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Decision:
    """One entry of the decision log, and the next state.

    ``at``: the evaluation time. ``action``: what happened (``hold`` changes
    nothing). ``stage_index``: the stage the decision is about (0-based; the
    stage that was left for ``advance``). ``percent``: treatment percentage to
    serve from now on. ``reason``: one human sentence. ``outcomes``: every
    rule's result (empty for person actions). ``runtime``: the state to store.
    ``actor``: ``system`` for ``decide``, ``person`` for the transitions.
    ``waiting_on``: for holds, what the stage waits for. ``changed``: the
    status or stage changed (always log these; log holds when the reason
    differs from the previous logged one).
    """

    at: float
    action: Action
    stage_index: int
    percent: float
    reason: str
    outcomes: tuple[RuleOutcome, ...]
    runtime: PlanRuntime
    actor: Actor = "system"
    waiting_on: WaitingOn = ""
    changed: bool = False


# ---------------------------------------------------------------------------
# Formatting helpers
# ---------------------------------------------------------------------------


def format_percent(percent: float) -> str:
    """12.5 -> '12.5%', 1.0 -> '1%', 0.001 -> '0.001%'."""
    text = f"{percent:.3f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _rate(value: float) -> str:
    return f"{value * 100:.2f}%"


def _pp(value: float) -> str:
    return f"{value * 100:+.2f} pp"


def _ms(value: float) -> str:
    return f"{value:.0f} ms"


def _stage_label(plan: PlanSpec, index: int) -> str:
    return f"stage {index + 1} ({format_percent(plan.stages[index].percent)})"


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def served_percent(plan: PlanSpec, runtime: PlanRuntime) -> float:
    """Treatment percentage to serve in a given state.

    running / paused: the current stage's percentage; completed: the last
    stage's; draft, rolled_back and cancelled: 0 (everyone gets control).
    """
    if runtime.status in ACTIVE_STATUSES:
        return plan.stages[runtime.stage_index].percent
    if runtime.status == "completed":
        return plan.stages[-1].percent
    return 0.0


# ---------------------------------------------------------------------------
# Rule evaluation
# ---------------------------------------------------------------------------


def _level(alpha: float) -> str:
    return f"{(1 - alpha) * 100:g}%"


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


def _metric_name(rule: RuleSpec) -> str:
    if rule.metric == "error_rate":
        return "error rate"
    if rule.metric == "ratio":
        return rule.label
    return f"p{rule.percentile * 100:g} latency"  # type: ignore[operator]


def _tolerance_text(rule: RuleSpec) -> str:
    if rule.comparison == "vs_control_relative":
        return f"{rule.threshold * 100:g}% relative"
    if rule.metric == "latency_p":
        return f"+{rule.threshold:g} ms"
    return f"{rule.threshold * 100:+g} pp"


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
            return f"{_level(self.fail)} bounds"
        return f"{_level(self.fail)} lower / {_level(self.pass_)} upper bounds"


def _judged_arms(
    segments: Sequence[SegmentCounts], counts_of
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


def _unit_phrase(diff: unit_stats.UnitBounds) -> str:
    """How the variance was judged, for a rule's summary."""
    if diff.basis == "requests":
        return (
            f"judged per request, conservatively (variance x{unit_stats.LEGACY_DESIGN_EFFECT:g}): "
            "these counts carry no unit groups (SDKs of metrics wire format 1, or an external source)"
        )
    treatment, control = diff.effective_groups
    return (
        f"per unit: standard error {_pp(diff.std_error).lstrip('+')} vs {_pp(diff.request_std_error).lstrip('+')} "
        f"per request, design effect {diff.design_effect:.1f}, {treatment:.0f} / {control:.0f} effective unit groups"
    )


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
        summary=f"{summary}; {_unit_phrase(diff)}",
        basis=diff.basis,
        std_error=diff.std_error,
        request_std_error=diff.request_std_error,
        design_effect=diff.design_effect,
        treatment_groups=treatment_groups if diff.basis == "units" else None,
        control_groups=control_groups if diff.basis == "units" else None,
    )


def _rate_counts(arm: ArmCounts) -> tuple[tuple[tuple[int, int], ...], int, int, int]:
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
    name = _metric_name(rule)
    numbers = (
        f"treatment {name} {_rate(treatment_rate)} vs control {_rate(control_rate)} "
        f"(difference {_pp(diff.estimate)}, {levels.bounds_text()} {_pp(diff.lower)} to {_pp(diff.upper)})"
    )
    tolerance = _tolerance_text(rule)
    if diff.lower > 0 and excess_estimate > 0:
        verdict: Verdict = "fail"
        summary = (
            f"treatment {name} {_rate(treatment_rate)} vs control {_rate(control_rate)} "
            f"(difference {_pp(diff.estimate)}, {_level(levels.fail)} lower bound {_pp(diff.lower)}) is "
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

    def slow_counts(arm: ArmCounts) -> tuple[tuple[tuple[int, int], ...], int, int, int]:
        groups = tuple((sum(h), stats.slow_count(bounds, h, cutoff)) for h in arm.group_histograms)
        return groups, arm.ungrouped, sum(arm.histogram), stats.slow_count(bounds, arm.histogram, cutoff)

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
    name = _metric_name(rule)
    numbers = (
        f"treatment {name} {_ms(treatment_q)} vs control {_ms(control_q)}; "
        f"{_rate(diff.treatment_rate)} vs {_rate(diff.control_rate)} of requests slower than "
        f"{_ms(cutoff)} (difference {_pp(diff.estimate)}, {levels.bounds_text()} {_pp(diff.lower)} "
        f"to {_pp(diff.upper)})"
    )
    tolerance = _tolerance_text(rule)
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
            f"treatment {_metric_name(rule)} {_ms(value)} over the last "
            f"{_duration(rule.window_s)} ({_rate(slow / total)} of {total} requests slower "
            f"than {_ms(rule.threshold)})"
        )
        limit = _ms(rule.threshold)
    else:
        total, events = arm.total, arm.events
        if total < rule.min_samples:
            return _insufficient(rule, total, events, 0, 0, " in the window"), 0
        value = events / total
        breach = value > rule.threshold
        numbers = (
            f"treatment {_metric_name(rule)} {_rate(value)} over the last "
            f"{_duration(rule.window_s)} ({events} of {total})"
        )
        limit = _rate(rule.threshold)
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


# ---------------------------------------------------------------------------
# decide(): one tick of the automatic state machine
# ---------------------------------------------------------------------------


def _arm_total(arm: ArmCounts) -> int:
    return arm.total or sum(arm.histogram)


def _treatment_total(obs: RuleObservation | None) -> int:
    """Treatment trials of the run so far (growth means new data arrived)."""
    if obs is None:
        return 0
    return sum(_arm_total(s.treatment) for s in obs.segments)


def _window_treatment_total(obs: RuleObservation | None) -> int:
    """Treatment trials in the trailing window: data arrived within ``window_s``.

    Absolute-threshold rules may be fed from a source that only knows the
    window (no per-stage counts); for them a non-empty window counts as fresh data.
    """
    if obs is None or obs.window is None:
        return 0
    return _arm_total(obs.window.treatment)


def _decision(
    plan: PlanSpec,
    before: PlanRuntime,
    after: PlanRuntime,
    now: float,
    action: Action,
    reason: str,
    outcomes: tuple[RuleOutcome, ...] = (),
    actor: Actor = "system",
    waiting_on: WaitingOn = "",
    stage_index: int | None = None,
) -> Decision:
    after = replace(after, updated_at=now)
    changed = (after.status, after.stage_index, after.run_number) != (
        before.status,
        before.stage_index,
        before.run_number,
    )
    return Decision(
        at=now,
        action=action,
        stage_index=before.stage_index if stage_index is None else stage_index,
        percent=served_percent(plan, after),
        reason=reason,
        outcomes=outcomes,
        runtime=after,
        actor=actor,
        waiting_on=waiting_on,
        changed=changed,
    )


def _first(outcomes: Sequence[RuleOutcome], verdict: Verdict, severity: Severity | None = None):
    for outcome in outcomes:
        if outcome.verdict == verdict and (severity is None or outcome.severity == severity):
            return outcome
    return None


def decide(
    plan: PlanSpec,
    runtime: PlanRuntime,
    now: float,
    observations: Sequence[RuleObservation] | Mapping[str, RuleObservation] = (),
    gates: Gates = Gates(),
) -> Decision:
    """Evaluate one tick. Pure: same inputs, same Decision.

    Order of precedence (first match wins):
      1. a failing rollback-severity rule -> rollback (also while paused and
         while waiting at a gate);
      2. while paused: hold (only rollback rules act on a paused rollout);
      3. a failing pause-severity rule -> pause; a sample-ratio mismatch
         (``Gates.traffic``) -> pause;
      4. a rule that got no new treatment data for ``starvation_timeout_s``
         -> pause "not enough traffic";
      5. dwell not over -> hold;
      6. a rule short of min_samples -> hold, or pause "not enough traffic"
         ``starvation_timeout_s`` after the dwell;
      7. evidence mode: a comparative rule not yet passing -> hold, or pause
         at ``max_hold_s`` after the dwell;
      8. approval missing -> hold; external check not OK -> hold;
      9. advance to the next stage, or complete after the last one.
    """
    if runtime.status not in ACTIVE_STATUSES:
        return _decision(plan, runtime, runtime, now, "hold", f"Nothing to evaluate: the rollout is {runtime.status}.")
    by_id = dict(observations) if isinstance(observations, Mapping) else {o.rule_id: o for o in observations}

    stage_index = runtime.stage_index
    stage = plan.stages[stage_index]
    stage_label = _stage_label(plan, stage_index)
    stage_started = runtime.stage_started_at if runtime.stage_started_at is not None else now

    outcomes: list[RuleOutcome] = []
    memories: list[RuleMemory] = []
    starved: list[RuleSpec] = []
    levels = Levels.for_plan(plan)
    for rule in plan.rules:
        memory = runtime.memory(rule.id)
        obs = by_id.get(rule.id)
        outcome, streak = evaluate_rule(rule, obs, levels, memory.breach_streak)
        outcomes.append(outcome)
        seen = _treatment_total(obs)
        last_new = memory.last_new_data_at
        if seen > memory.treatment_seen or (not rule.is_comparative and _window_treatment_total(obs) > 0):
            last_new = now
        memories.append(RuleMemory(rule.id, seen, last_new, streak))
        quiet_since = max(stage_started, last_new if last_new is not None else stage_started)
        if now - quiet_since >= plan.starvation_timeout_s:
            starved.append(rule)
    results = tuple(outcomes)
    state = replace(runtime, rules=tuple(memories))

    def hold(reason: str, waiting_on: WaitingOn) -> Decision:
        return _decision(plan, runtime, state, now, "hold", reason, results, waiting_on=waiting_on)

    failing = _first(results, "fail", "rollback")
    if failing is not None:
        reason = f"Rolled back at {stage_label}: {_clause(failing.rule_id, results)}."
        after = replace(state, status="rolled_back", reason=reason)
        return _decision(plan, runtime, after, now, "rollback", reason, results)

    if runtime.status == "paused":
        return hold(
            f"Holding at {stage_label}: paused, waiting for a person to resume (rollback rules are still evaluated).",
            "person",
        )

    failing = _first(results, "fail", "pause")
    if failing is not None:
        reason = f"Paused at {stage_label} for a person: {_clause(failing.rule_id, results)}."
        after = replace(state, status="paused", reason=reason)
        return _decision(plan, runtime, after, now, "pause", reason, results)

    mismatch = sample_ratio_check(plan, runtime, gates.traffic)
    if mismatch is not None and mismatch.mismatch:
        reason = f"Paused at {stage_label} for a person: {_sample_ratio_text(mismatch)}."
        after = replace(state, status="paused", reason=reason)
        return _decision(plan, runtime, after, now, "pause", reason, results)

    if starved:
        names = ", ".join(rule.label for rule in starved)
        reason = (
            f"Paused at {stage_label}: {NOT_ENOUGH_TRAFFIC} (no new treatment data for "
            f"{_duration(plan.starvation_timeout_s)} for {names})."
        )
        after = replace(state, status="paused", reason=reason)
        return _decision(plan, runtime, after, now, "pause", reason, results)

    dwell_end = stage_started + stage.min_dwell_s
    if now < dwell_end:
        return hold(
            f"Holding at {stage_label}: minimum dwell time, {_duration(dwell_end - now)} left.",
            "dwell",
        )
    waited = now - dwell_end

    short = [o for o in results if o.verdict == "insufficient_data"]
    if short:
        detail = "; ".join(_clause(o.rule_id, short) for o in short)
        if waited >= plan.starvation_timeout_s:
            reason = (
                f"Paused at {stage_label}: {NOT_ENOUGH_TRAFFIC} (still short of the minimum "
                f"samples {_duration(waited)} after the dwell: {detail})."
            )
            after = replace(state, status="paused", reason=reason)
            return _decision(plan, runtime, after, now, "pause", reason, results)
        return hold(f"Holding at {stage_label}: waiting for minimum samples ({detail}).", "min_samples")

    if plan.advance_mode == "evidence":
        unproven = [
            o for rule, o in zip(plan.rules, results, strict=True) if rule.is_comparative and o.verdict != "pass"
        ]
        if unproven:
            detail = "; ".join(_clause(o.rule_id, unproven) for o in unproven)
            if waited >= plan.max_hold_s:
                reason = (
                    f"Paused at {stage_label} for a person: no evidence of safety after the "
                    f"maximum hold of {_duration(plan.max_hold_s)} ({detail})."
                )
                after = replace(state, status="paused", reason=reason)
                return _decision(plan, runtime, after, now, "pause", reason, results)
            return hold(f"Holding at {stage_label}: waiting for evidence ({detail}).", "evidence")

    if stage.needs_approval and not (gates.approved or runtime.approved_stage_index == stage_index):
        return hold(f"Holding at {stage_label}: waiting for approval.", "approval")
    if stage.external_check and gates.external_check_ok is not True:
        if gates.external_check_ok is False:
            return hold(f"Holding at {stage_label}: the external check failed.", "external_check")
        return hold(f"Holding at {stage_label}: waiting for the external check.", "external_check")

    healthy = _health_phrase(results)
    if stage_index == len(plan.stages) - 1:
        reason = f"Completed at {stage_label}: {healthy}."
        after = replace(state, status="completed", reason=reason)
        return _decision(plan, runtime, after, now, "complete", reason, results)
    after = _enter_stage(state, stage_index + 1, now, new_run=False)
    reason = f"Advanced from {stage_label} to {_stage_label(plan, stage_index + 1)}: {healthy}."
    return _decision(plan, runtime, after, now, "advance", reason, results)


def sample_ratio_check(
    plan: PlanSpec, runtime: PlanRuntime, traffic: Sequence[SegmentCounts]
) -> unit_stats.SampleRatio | None:
    """The treatment's share of the run's traffic against what its stages served.

    ``traffic`` as ``Gates.traffic`` (unit groups required: a share counted per request would
    mistake a heavy user for a mismatch). None when there is nothing to check: no traffic with
    unit groups, too few treatment signals or unit groups to judge, or only a 100% stage.
    """
    if not traffic or len(traffic) != len(runtime.segment_starts):
        return None
    first_stage = runtime.stage_index - (len(traffic) - 1)
    if first_stage < 0:
        return None
    segments: list[tuple[list[int], list[int]]] = []
    shares: list[float] = []
    for offset, segment in enumerate(traffic):
        control = [n for n, _ in segment.control.groups]
        if not control:
            continue
        treatment = [n for n, _ in segment.treatment.groups] or [0] * len(control)
        segments.append((treatment, control))
        shares.append(plan.stages[first_stage + offset].percent / 100.0)
    result = unit_stats.sample_ratio(segments, shares, SAMPLE_RATIO_ALPHA)
    if result.expected < SAMPLE_RATIO_MIN_EXPECTED or result.effective_groups < unit_stats.MIN_EFFECTIVE_GROUPS:
        return None
    return result


def _sample_ratio_text(result: unit_stats.SampleRatio) -> str:
    return (
        f"sample ratio mismatch: the treatment reported {result.observed} of {result.total} health "
        f"signals with unit groups since the split settled, where the split serves {result.expected:.0f} "
        f"({result.deviation * 100:+.1f}%, {_level(SAMPLE_RATIO_ALPHA)} bounds {result.lower * 100:+.1f}% to "
        f"{result.upper * 100:+.1f}%, {result.effective_groups:.0f} effective unit groups); requests that never "
        "report (a crash before the SDK records the error) or variants cached by clients make every comparison "
        "of the arms unreliable"
    )


def _clause(rule_id: str, outcomes: Sequence[RuleOutcome]) -> str:
    """The outcome's summary as a clause of a sentence, naming its rule."""
    for outcome in outcomes:
        if outcome.rule_id == rule_id:
            return f"{outcome.summary} (rule {outcome.rule_id})"
    return rule_id


def _health_phrase(outcomes: Sequence[RuleOutcome]) -> str:
    if not outcomes:
        return "dwell time elapsed and no health rules are configured"
    counts = {verdict: sum(1 for o in outcomes if o.verdict == verdict) for verdict in _VERDICT_WORDS}
    tally = ", ".join(f"{counts[verdict]} {word}" for verdict, word in _VERDICT_WORDS.items() if counts[verdict])
    rules = "rule" if len(outcomes) == 1 else "rules"
    return f"dwell time elapsed, every gate passed and no health rule failed (of {len(outcomes)} {rules}: {tally})"


_VERDICT_WORDS = {"pass": "passed", "inconclusive": "inconclusive", "insufficient_data": "short of samples"}


def _enter_stage(runtime: PlanRuntime, index: int, now: float, new_run: bool) -> PlanRuntime:
    """State at the start of stage ``index`` (optionally with a new statistical baseline)."""
    if new_run:
        return replace(
            runtime,
            status="running",
            stage_index=index,
            stage_started_at=now,
            run_started_at=now,
            run_number=runtime.run_number + 1,
            segment_starts=(now,),
            approved_stage_index=None,
            reason="",
            rules=(),
        )
    return replace(
        runtime,
        status="running",
        stage_index=index,
        stage_started_at=now,
        segment_starts=(*runtime.segment_starts, now),
        approved_stage_index=None,
        reason="",
    )


# ---------------------------------------------------------------------------
# Person-driven transitions
# ---------------------------------------------------------------------------


def _require(runtime: PlanRuntime, name: str) -> None:
    """Refuse a person's action from a status the actions table does not allow it from."""
    action = actions.BY_NAME[name]
    if runtime.status not in action.allowed_from:
        raise TransitionError(
            f"cannot {action.verb} a rollout that is {runtime.status} (allowed from: {', '.join(action.allowed_from)})"
        )


def _who(actor_name: str) -> str:
    return f" by {actor_name}" if actor_name else ""


def start(plan: PlanSpec, runtime: PlanRuntime, now: float, by: str = "") -> Decision:
    """draft -> running at stage 1 (a new run)."""
    _require(runtime, "start")
    after = _enter_stage(runtime, 0, now, new_run=True)
    reason = f"Started{_who(by)} at {_stage_label(plan, 0)}."
    return _decision(plan, runtime, after, now, "start", reason, actor="person", stage_index=0)


def pause(plan: PlanSpec, runtime: PlanRuntime, now: float, reason: str = "", by: str = "") -> Decision:
    """running -> paused; the treatment keeps its current percentage."""
    _require(runtime, "pause")
    why = reason or "paused by a person"
    text = f"Paused{_who(by)} at {_stage_label(plan, runtime.stage_index)}: {why}."
    after = replace(runtime, status="paused", reason=text)
    return _decision(plan, runtime, after, now, "pause", text, actor="person")


def resume(
    plan: PlanSpec,
    runtime: PlanRuntime,
    now: float,
    from_stage: int | None = None,
    by: str = "",
) -> Decision:
    """paused or rolled_back -> running at ``from_stage`` (0-based).

    Default stage: the current one when paused, the first one after a
    rollback. Every resume starts a new run: a fresh dwell clock and a fresh
    statistical baseline (counts served before ``now`` are no longer used),
    because the treatment may have been fixed and old evidence would either
    re-fire a stale failure or vouch for a different build. Works any number
    of times.
    """
    _require(runtime, "resume")
    if from_stage is None:
        from_stage = runtime.stage_index if runtime.status == "paused" else 0
    if not 0 <= from_stage < len(plan.stages):
        raise TransitionError(f"from_stage must be between 0 and {len(plan.stages) - 1}")
    after = _enter_stage(runtime, from_stage, now, new_run=True)
    reason = f"Resumed{_who(by)} at {_stage_label(plan, from_stage)} (run {after.run_number})."
    return _decision(plan, runtime, after, now, "resume", reason, actor="person", stage_index=from_stage)


def approve(plan: PlanSpec, runtime: PlanRuntime, now: float, stage_index: int | None = None, by: str = "") -> Decision:
    """Record a person's approval of the current stage (running or paused).

    Allowed only when the current stage needs approval and is not approved
    yet; ``stage_index`` (if given) must be the current stage, so that a stale
    approval click cannot approve a later stage.
    """
    _require(runtime, "approve")
    current = runtime.stage_index
    if stage_index is not None and stage_index != current:
        raise TransitionError(f"cannot approve stage {stage_index + 1}: the rollout is at stage {current + 1}")
    if not plan.stages[current].needs_approval:
        raise TransitionError(f"stage {current + 1} does not need approval")
    if runtime.approved_stage_index == current:
        raise TransitionError(f"stage {current + 1} is already approved")
    after = replace(runtime, approved_stage_index=current)
    reason = f"Approved{_who(by)}: {_stage_label(plan, current)} may advance once its other gates pass."
    return _decision(plan, runtime, after, now, "approve", reason, actor="person")


def promote(plan: PlanSpec, runtime: PlanRuntime, now: float, reason: str = "", by: str = "") -> Decision:
    """Skip the remaining wait: advance to the next stage now (or complete).

    From running the statistical baseline continues (a new segment); from
    paused it is a resume at the next stage and starts a new run.
    """
    _require(runtime, "promote")
    current = runtime.stage_index
    why = f": {reason}" if reason else ""
    if current == len(plan.stages) - 1:
        text = f"Completed{_who(by)} at {_stage_label(plan, current)} by promotion{why}."
        after = replace(runtime, status="completed", reason=text)
        return _decision(plan, runtime, after, now, "complete", text, actor="person")
    after = _enter_stage(runtime, current + 1, now, new_run=runtime.status == "paused")
    text = f"Promoted{_who(by)} from {_stage_label(plan, current)} to {_stage_label(plan, current + 1)}{why}."
    return _decision(plan, runtime, after, now, "advance", text, actor="person")


def rollback(plan: PlanSpec, runtime: PlanRuntime, now: float, reason: str = "", by: str = "") -> Decision:
    """running or paused -> rolled_back; the treatment goes to 0%."""
    _require(runtime, "rollback")
    why = reason or "rolled back by a person"
    text = f"Rolled back{_who(by)} at {_stage_label(plan, runtime.stage_index)}: {why}."
    after = replace(runtime, status="rolled_back", reason=text)
    return _decision(plan, runtime, after, now, "rollback", text, actor="person")


def cancel(plan: PlanSpec, runtime: PlanRuntime, now: float, reason: str = "", by: str = "") -> Decision:
    """draft, running, paused or rolled_back -> cancelled (terminal); treatment 0%."""
    _require(runtime, "cancel")
    why = f": {reason}" if reason else ""
    text = f"Cancelled{_who(by)}{why}."
    after = replace(runtime, status="cancelled", reason=text)
    return _decision(plan, runtime, after, now, "cancel", text, actor="person")


def act(
    name: str,
    plan: PlanSpec,
    runtime: PlanRuntime,
    now: float,
    *,
    reason: str = "",
    stage: int | None = None,
    by: str = "",
) -> Decision:
    """A person's action by its name in ``actions.PERSON_ACTIONS``.

    ``stage`` (0-based) is read by the actions with a ``stage_field`` (resume: where to restart;
    approve: the stage the person looked at); the others record ``reason`` in their decision.
    """
    if name == "start":
        return start(plan, runtime, now, by=by)
    if name == "resume":
        return resume(plan, runtime, now, stage, by=by)
    if name == "approve":
        return approve(plan, runtime, now, stage, by=by)
    with_reason = {"pause": pause, "promote": promote, "rollback": rollback, "cancel": cancel}
    if name not in with_reason:
        raise TransitionError(f"no person's action is called {name!r}")
    return with_reason[name](plan, runtime, now, reason, by=by)
