"""What the pure rollout core is told: a plan (stages and health rules) and its state between ticks.

Plain frozen dataclasses, no Django: ``specs.py`` builds them from the rows and stores
``PlanRuntime`` back; ``decision.decide`` and the person-driven transitions read them and return
the next ``PlanRuntime``. Times are seconds, percentages the treatment's share in [0, 100], rates
fractions in [0, 1]; ``stage_index`` fields are 0-based.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

from . import plan_fields

Status = Literal["draft", "running", "paused", "completed", "rolled_back", "cancelled"]
Metric = Literal["error_rate", "latency_p", "ratio"]
Comparison = Literal["vs_control_absolute", "vs_control_relative", "absolute_threshold"]
Severity = Literal["rollback", "pause"]
AdvanceMode = Literal["time", "evidence"]

ACTIVE_STATUSES: frozenset[str] = frozenset({"running", "paused"})

_METRICS = ("error_rate", "latency_p", "ratio")
_COMPARISONS = ("vs_control_absolute", "vs_control_relative", "absolute_threshold")

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
