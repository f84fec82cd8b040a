"""One tick of a rollout's automatic state machine: ``decide`` and the ``Step`` it returns.

Plain data in, plain data out, with no I/O, no clock and no Django: ``decide(plan, runtime, now,
observations, gates)`` evaluates every health rule (``rules.py``), then asks the checks of
``PRECEDENCE`` in order; the first that answers says the tick's step, and when none does the
rollout advances. The person-driven transitions (``transitions.py``) return a ``Step`` too. The
engine (``services.evaluate``) stores ``Step.runtime``, serves ``Step.percent`` and logs the step
as a ``models.Decision``; the simulator in ``bench/rollout_sim.py`` drives the very same code.

The plan and its state are in ``plan_spec.py``, a tick's counts in ``observations.py``, the words
of every reason in ``wording.py``. Times are seconds on any monotonic-enough scale (Unix epoch
seconds in Django). Stage numbers in reasons are 1-based; ``stage_index`` fields are 0-based.
See docs/rollout-decisions.md for the state machine and docs/rollout-statistics.md for the
statistics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from . import unit_stats
from .observations import ArmCounts, RuleObservation, SegmentCounts
from .plan_spec import ACTIVE_STATUSES, PlanRuntime, PlanSpec, RuleMemory, RuleSpec, Severity, StageSpec, Status
from .rules import Levels, RuleOutcome, evaluate_rule
from .wording import NOT_ENOUGH_TRAFFIC, clause, clauses, duration, health_phrase, sample_ratio_text, stage_label

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
WaitingOn = Literal["", "dwell", "min_samples", "evidence", "approval", "external_check", "person"]

SAMPLE_RATIO_ALPHA = 0.001
"""Two-sided error level of the sample-ratio check (its own budget: it pauses, never rolls back)."""
SAMPLE_RATIO_MIN_EXPECTED = 100.0
"""Treatment signals the split must predict before the sample-ratio check says anything."""


@dataclass(frozen=True)
class Gates:
    """Gate inputs for the current stage.

    ``approved``: a person approved the current stage (alternative to
    recording it with ``approve``). ``external_check_ok``: result of the most
    recent external check of the current stage (True = 2xx, False = failed,
    None = not performed yet). The caller performs the HTTP call, typically
    when the previous step's ``waiting_on`` was ``"external_check"``.
    ``traffic``: the flag's health-signal counts with unit groups, one
    ``SegmentCounts`` per element of ``runtime.segment_starts``, each counted
    from a settling time after ``segment_starts[i]`` (a new split takes a
    while to reach every SDK, which serve the old one until then): the input
    of the sample-ratio check. Empty: no check.
    """

    approved: bool = False
    external_check_ok: bool | None = None
    traffic: tuple[SegmentCounts, ...] = ()


@dataclass(frozen=True)
class Step:
    """What one tick or one person's action does: the next state, and the entry of the decision log.

    ``at``: the evaluation time. ``action``: what happened (``hold`` changes
    nothing). ``stage_index``: the stage the step is about (0-based; the
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


def make_step(
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
) -> Step:
    """The step from state ``before`` to ``after`` (stamped ``now``), about ``before``'s stage by default."""
    after = replace(after, updated_at=now)
    changed = (after.status, after.stage_index, after.run_number) != (
        before.status,
        before.stage_index,
        before.run_number,
    )
    return Step(
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


def enter_stage(runtime: PlanRuntime, index: int, now: float, new_run: bool) -> PlanRuntime:
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


# ---------------------------------------------------------------------------
# decide(): the rules' outcomes, then the checks in order of precedence
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    """What the checks of one tick read.

    ``before``: the stored state; ``state``: the same with the rules' new memory (what a hold
    stores); ``outcomes``: every rule's result, in the plan's order; ``starved``: the rules that
    got no new treatment data for the plan's ``starvation_timeout_s``.
    """

    plan: PlanSpec
    before: PlanRuntime
    state: PlanRuntime
    now: float
    gates: Gates
    outcomes: tuple[RuleOutcome, ...]
    starved: tuple[RuleSpec, ...]

    @property
    def stage(self) -> StageSpec:
        return self.plan.stages[self.before.stage_index]

    @property
    def label(self) -> str:
        return stage_label(self.plan, self.before.stage_index)

    @property
    def dwell_end(self) -> float:
        return _stage_started(self.before, self.now) + self.stage.min_dwell_s

    @property
    def waited(self) -> float:
        """How long the stage has waited since its dwell ended."""
        return self.now - self.dwell_end

    def failing(self, severity: Severity) -> RuleOutcome | None:
        return next((o for o in self.outcomes if o.verdict == "fail" and o.severity == severity), None)

    def hold(self, reason: str, waiting_on: WaitingOn) -> Step:
        return make_step(
            self.plan, self.before, self.state, self.now, "hold", reason, self.outcomes, waiting_on=waiting_on
        )

    def end_in(self, status: Status, action: Action, reason: str) -> Step:
        after = replace(self.state, status=status, reason=reason)
        return make_step(self.plan, self.before, after, self.now, action, reason, self.outcomes)

    def pause(self, reason: str) -> Step:
        return self.end_in("paused", "pause", reason)


Check = Callable[[Tick], Step | None]


def _rollback_rule_failing(tick: Tick) -> Step | None:
    failing = tick.failing("rollback")
    if failing is None:
        return None
    return tick.end_in("rolled_back", "rollback", f"Rolled back at {tick.label}: {clause(failing)}.")


def _paused(tick: Tick) -> Step | None:
    if tick.before.status != "paused":
        return None
    return tick.hold(
        f"Holding at {tick.label}: paused, waiting for a person to resume (rollback rules are still evaluated).",
        "person",
    )


def _pause_rule_failing(tick: Tick) -> Step | None:
    failing = tick.failing("pause")
    if failing is None:
        return None
    return tick.pause(f"Paused at {tick.label} for a person: {clause(failing)}.")


def _sample_ratio_mismatch(tick: Tick) -> Step | None:
    mismatch = sample_ratio_check(tick.plan, tick.before, tick.gates.traffic)
    if mismatch is None or not mismatch.mismatch:
        return None
    return tick.pause(f"Paused at {tick.label} for a person: {sample_ratio_text(mismatch, SAMPLE_RATIO_ALPHA)}.")


def _starved(tick: Tick) -> Step | None:
    if not tick.starved:
        return None
    names = ", ".join(rule.label for rule in tick.starved)
    return tick.pause(
        f"Paused at {tick.label}: {NOT_ENOUGH_TRAFFIC} (no new treatment data for "
        f"{duration(tick.plan.starvation_timeout_s)} for {names})."
    )


def _dwell(tick: Tick) -> Step | None:
    if tick.now >= tick.dwell_end:
        return None
    left = duration(tick.dwell_end - tick.now)
    return tick.hold(f"Holding at {tick.label}: minimum dwell time, {left} left.", "dwell")


def _min_samples(tick: Tick) -> Step | None:
    short = [o for o in tick.outcomes if o.verdict == "insufficient_data"]
    if not short:
        return None
    if tick.waited >= tick.plan.starvation_timeout_s:
        return tick.pause(
            f"Paused at {tick.label}: {NOT_ENOUGH_TRAFFIC} (still short of the minimum "
            f"samples {duration(tick.waited)} after the dwell: {clauses(short)})."
        )
    return tick.hold(f"Holding at {tick.label}: waiting for minimum samples ({clauses(short)}).", "min_samples")


def _evidence(tick: Tick) -> Step | None:
    if tick.plan.advance_mode != "evidence":
        return None
    rules = zip(tick.plan.rules, tick.outcomes, strict=True)
    unproven = [o for rule, o in rules if rule.is_comparative and o.verdict != "pass"]
    if not unproven:
        return None
    if tick.waited >= tick.plan.max_hold_s:
        return tick.pause(
            f"Paused at {tick.label} for a person: no evidence of safety after the "
            f"maximum hold of {duration(tick.plan.max_hold_s)} ({clauses(unproven)})."
        )
    return tick.hold(f"Holding at {tick.label}: waiting for evidence ({clauses(unproven)}).", "evidence")


def _approval(tick: Tick) -> Step | None:
    approved = tick.gates.approved or tick.before.approved_stage_index == tick.before.stage_index
    if not tick.stage.needs_approval or approved:
        return None
    return tick.hold(f"Holding at {tick.label}: waiting for approval.", "approval")


def _external_check(tick: Tick) -> Step | None:
    if not tick.stage.external_check or tick.gates.external_check_ok is True:
        return None
    if tick.gates.external_check_ok is False:
        return tick.hold(f"Holding at {tick.label}: the external check failed.", "external_check")
    return tick.hold(f"Holding at {tick.label}: waiting for the external check.", "external_check")


def _advance(tick: Tick) -> Step:
    index = tick.before.stage_index
    healthy = health_phrase(tick.outcomes)
    if index == len(tick.plan.stages) - 1:
        return tick.end_in("completed", "complete", f"Completed at {tick.label}: {healthy}.")
    after = enter_stage(tick.state, index + 1, tick.now, new_run=False)
    reason = f"Advanced from {tick.label} to {stage_label(tick.plan, index + 1)}: {healthy}."
    return make_step(tick.plan, tick.before, after, tick.now, "advance", reason, tick.outcomes)


PRECEDENCE: tuple[Check, ...] = (
    _rollback_rule_failing,
    _paused,
    _pause_rule_failing,
    _sample_ratio_mismatch,
    _starved,
    _dwell,
    _min_samples,
    _evidence,
    _approval,
    _external_check,
)
"""decide()'s checks, first match wins (see its docstring); when none answers, the rollout advances."""


def decide(
    plan: PlanSpec,
    runtime: PlanRuntime,
    now: float,
    observations: Sequence[RuleObservation] | Mapping[str, RuleObservation] = (),
    gates: Gates = Gates(),
) -> Step:
    """Evaluate one tick. Pure: same inputs, same Step.

    Order of precedence (``PRECEDENCE``, first match wins):
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
        return make_step(plan, runtime, runtime, now, "hold", f"Nothing to evaluate: the rollout is {runtime.status}.")
    tick = _evaluate_rules(plan, runtime, now, observations, gates)
    for check in PRECEDENCE:
        step = check(tick)
        if step is not None:
            return step
    return _advance(tick)


def _evaluate_rules(
    plan: PlanSpec,
    runtime: PlanRuntime,
    now: float,
    observations: Sequence[RuleObservation] | Mapping[str, RuleObservation],
    gates: Gates,
) -> Tick:
    """Every rule's outcome and new memory (treatment data seen, breach streak), and the starved rules."""
    by_id = dict(observations) if isinstance(observations, Mapping) else {o.rule_id: o for o in observations}
    stage_started = _stage_started(runtime, now)
    levels = Levels.for_plan(plan)
    outcomes: list[RuleOutcome] = []
    memories: list[RuleMemory] = []
    starved: list[RuleSpec] = []
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
    state = replace(runtime, rules=tuple(memories))
    return Tick(plan, runtime, state, now, gates, tuple(outcomes), tuple(starved))


def _stage_started(runtime: PlanRuntime, now: float) -> float:
    return runtime.stage_started_at if runtime.stage_started_at is not None else now


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
