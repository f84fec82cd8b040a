"""Tests of the rollout state machine (pure functions, no database)."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from controlplane.rollouts.decision import Gates, Step, decide, served_percent
from controlplane.rollouts.errors import TransitionError
from controlplane.rollouts.observations import ArmCounts, RuleObservation, SegmentCounts
from controlplane.rollouts.plan_spec import PlanRuntime, PlanSpec, RuleSpec, StageSpec
from controlplane.rollouts.transitions import approve, cancel, pause, promote, resume, rollback, start
from controlplane.rollouts.wording import NOT_ENOUGH_TRAFFIC, format_percent
from tests.rollouts.helpers import grouped

DWELL = 600.0
ERRORS = RuleSpec(
    id="errors",
    name="error rate",
    metric="error_rate",
    comparison="vs_control_absolute",
    threshold=0.005,
    min_samples=1_000,
)


def make_plan(*stages: StageSpec, rules: tuple[RuleSpec, ...] = (ERRORS,), **kwargs) -> PlanSpec:
    if not stages:
        stages = (StageSpec(1.0, DWELL), StageSpec(50.0, DWELL), StageSpec(100.0, DWELL))
    return PlanSpec(stages=stages, rules=rules, **kwargs)


def started(plan: PlanSpec, at: float = 0.0) -> PlanRuntime:
    return start(plan, PlanRuntime(), at).runtime


def counts(n_t: int, e_t: int, n_c: int, e_c: int, rule_id: str = "errors") -> tuple[RuleObservation, ...]:
    """One segment of cumulative counts for one rule."""
    segment = SegmentCounts(ArmCounts(n_t, e_t), ArmCounts(n_c, e_c))
    return (RuleObservation(rule_id, segments=(segment,)),)


HEALTHY = counts(200_000, 2_000, 2_000_000, 20_000)  # 1% vs 1%, plenty of data: passes every rule


def healthy_at(now: float) -> tuple[RuleObservation, ...]:
    """Like HEALTHY, with traffic that keeps arriving (so the stage is never starved)."""
    n = 200_000 + int(now)
    return counts(n, n // 100, 10 * n, n // 10)


def weak_at(now: float) -> tuple[RuleObservation, ...]:
    """Healthy (1% vs 1%) but a trickle: far too few samples to bound the difference under 0.5 pp."""
    n = 2_000 + int(now) // 100
    return counts(n, n // 100, 100 * n, n)


BAD = counts(10_000, 300, 990_000, 9_900)  # 3% vs 1%: clearly beyond +0.5 pp
SHORT = counts(500, 5, 50_000, 500)  # below min_samples (1,000)


def test_start_serves_the_first_stage_and_opens_a_run() -> None:
    plan = make_plan()
    decision = start(plan, PlanRuntime(), 10.0)
    assert decision.action == "start" and decision.actor == "person" and decision.changed
    assert decision.percent == 1.0
    assert decision.runtime.status == "running"
    assert decision.runtime.run_started_at == 10.0 and decision.runtime.segment_starts == (10.0,)
    assert decision.runtime.run_number == 1


def test_holds_during_dwell_then_advances_then_completes() -> None:
    plan = make_plan()
    runtime = started(plan)
    held = decide(plan, runtime, 300.0, HEALTHY)
    assert (held.action, held.waiting_on, held.percent) == ("hold", "dwell", 1.0)
    assert not held.changed

    advanced = decide(plan, held.runtime, 600.0, HEALTHY)
    assert advanced.action == "advance" and advanced.changed
    assert advanced.percent == 50.0
    assert advanced.runtime.stage_index == 1
    assert advanced.runtime.segment_starts == (0.0, 600.0)
    assert advanced.reason.startswith("Advanced from stage 1 (1%) to stage 2 (50%)")

    second = decide(plan, advanced.runtime, 1200.0, HEALTHY)
    assert second.action == "advance" and second.runtime.stage_index == 2 and second.percent == 100.0
    done = decide(plan, second.runtime, 1800.0, HEALTHY)
    assert done.action == "complete" and done.runtime.status == "completed" and done.percent == 100.0
    assert done.reason.startswith("Completed at stage 3 (100%)")
    after = decide(plan, done.runtime, 2400.0, HEALTHY)
    assert after.action == "hold" and after.runtime.status == "completed"


def test_a_rule_without_its_minimum_samples_never_advances_the_stage() -> None:
    plan = make_plan(starvation_timeout_s=10**9)
    runtime = started(plan)
    n_t = 0
    for tick in range(1, 400):
        n_t += 2  # data keeps trickling in, but stays under the 1,000 minimum
        decision = decide(plan, runtime, tick * 15.0, counts(n_t, 0, n_t * 100, n_t))
        runtime = decision.runtime
        assert decision.action == "hold", decision.reason
        assert runtime.stage_index == 0
    assert decision.waiting_on == "min_samples"
    assert decision.outcomes[0].verdict == "insufficient_data"
    assert "798 treatment" in decision.reason


def test_a_stage_starved_of_data_pauses_with_not_enough_traffic() -> None:
    plan = make_plan(starvation_timeout_s=900.0)
    runtime = started(plan)
    # Some data arrives early, then nothing more: no new treatment samples for 900 s.
    first = decide(plan, runtime, 15.0, SHORT)
    assert first.action == "hold"
    quiet = decide(plan, first.runtime, 900.0, SHORT)
    assert quiet.action == "hold"
    paused = decide(plan, quiet.runtime, 915.0, SHORT)
    assert paused.action == "pause"
    assert paused.runtime.status == "paused"
    assert NOT_ENOUGH_TRAFFIC in paused.reason
    assert paused.percent == 1.0  # a pause holds the percentage; never a rollback, never a silent pass


def test_a_stage_with_no_data_at_all_pauses_rather_than_advancing() -> None:
    plan = make_plan(starvation_timeout_s=1200.0)
    runtime = started(plan)
    decision = decide(plan, runtime, 600.0, ())
    assert decision.action == "hold" and decision.waiting_on == "min_samples"
    decision = decide(plan, decision.runtime, 1200.0, ())
    assert decision.action == "pause" and NOT_ENOUGH_TRAFFIC in decision.reason


def test_a_trickle_that_never_reaches_minimum_samples_pauses_after_dwell_plus_timeout() -> None:
    plan = make_plan(starvation_timeout_s=900.0)
    runtime = started(plan)
    decision: Step | None = None
    for tick in range(1, 200):
        decision = decide(plan, runtime, tick * 15.0, counts(tick, 0, tick * 100, tick))
        runtime = decision.runtime
        if decision.action != "hold":
            break
    assert decision is not None and decision.action == "pause"
    assert decision.at == DWELL + 900.0
    assert NOT_ENOUGH_TRAFFIC in decision.reason and "short of the minimum samples" in decision.reason


def test_a_regression_rolls_back_with_numbers_in_one_sentence() -> None:
    plan = make_plan()
    decision = decide(plan, started(plan), 120.0, BAD)
    assert decision.action == "rollback" and decision.changed
    assert decision.percent == 0.0
    assert decision.runtime.status == "rolled_back"
    outcome = decision.outcomes[0]
    assert outcome.verdict == "fail"
    assert outcome.treatment_n == 10_000 and outcome.control_n == 990_000
    assert outcome.treatment_value == pytest.approx(0.03) and outcome.control_value == pytest.approx(0.01)
    assert outcome.statistic == pytest.approx(0.02)
    assert outcome.lower is not None and 0.0 < outcome.lower < outcome.statistic
    assert decision.reason.startswith("Rolled back at stage 1 (1%): treatment error rate 3.00% vs control 1.00%")
    assert "95% lower bound" in decision.reason and "tolerance of +0.5 pp" in decision.reason
    assert decision.reason.endswith(".") and not re.search(r"\.\s", decision.reason)  # one sentence


def test_a_regression_during_an_approval_wait_rolls_back() -> None:
    plan = make_plan(StageSpec(1.0, DWELL, needs_approval=True), StageSpec(100.0, DWELL))
    waiting = decide(plan, started(plan), 700.0, HEALTHY)
    assert waiting.action == "hold" and waiting.waiting_on == "approval"
    decision = decide(plan, waiting.runtime, 715.0, BAD)
    assert decision.action == "rollback" and decision.percent == 0.0


def test_a_regression_during_a_failing_external_check_rolls_back() -> None:
    plan = make_plan(StageSpec(1.0, DWELL, external_check=True), StageSpec(100.0, DWELL))
    decision = decide(plan, started(plan), 700.0, BAD, Gates(external_check_ok=False))
    assert decision.action == "rollback"


def test_the_approval_gate_holds_until_approved() -> None:
    plan = make_plan(StageSpec(1.0, DWELL, needs_approval=True), StageSpec(100.0, DWELL))
    runtime = started(plan)
    for now in (600.0, 3_600.0, 86_400.0):
        held = decide(plan, runtime, now, healthy_at(now))
        assert held.action == "hold" and held.waiting_on == "approval"
        assert held.reason == "Holding at stage 1 (1%): waiting for approval."
        runtime = held.runtime
    approval = approve(plan, runtime, 86_500.0, stage_index=0, by="alice")
    assert approval.action == "approve" and approval.actor == "person" and "alice" in approval.reason
    advanced = decide(plan, approval.runtime, 86_515.0, healthy_at(86_515.0))
    assert advanced.action == "advance" and advanced.runtime.approved_stage_index is None
    # The approval is per stage and can also come in through the gates.
    via_gate = decide(plan, started(plan), 600.0, HEALTHY, Gates(approved=True))
    assert via_gate.action == "advance"


def test_the_external_check_holds_until_it_answers_ok() -> None:
    plan = make_plan(StageSpec(1.0, DWELL, external_check=True), StageSpec(100.0, DWELL))
    runtime = started(plan)
    not_yet = decide(plan, runtime, 600.0, HEALTHY, Gates(external_check_ok=None))
    assert not_yet.action == "hold" and not_yet.waiting_on == "external_check"
    failing = decide(plan, not_yet.runtime, 615.0, HEALTHY, Gates(external_check_ok=False))
    assert failing.action == "hold" and "external check failed" in failing.reason
    ok = decide(plan, failing.runtime, 630.0, HEALTHY, Gates(external_check_ok=True))
    assert ok.action == "advance"


def test_evidence_gate_holds_past_dwell_advances_when_enough_and_pauses_at_max_hold() -> None:
    plan = make_plan(advance_mode="evidence", max_hold_s=3_600.0)
    runtime = started(plan)
    held = decide(plan, runtime, 1_800.0, weak_at(1_800.0))
    assert held.action == "hold" and held.waiting_on == "evidence"
    assert held.outcomes[0].verdict == "inconclusive"
    assert held.outcomes[0].upper is not None and held.outcomes[0].upper > 0.005

    # The same runtime with enough evidence advances.
    strong = decide(plan, held.runtime, 1_815.0, healthy_at(1_815.0))
    assert strong.outcomes[0].verdict == "pass"
    assert strong.action == "advance"

    # Without it, the stage pauses for a person at dwell + max_hold.
    still = decide(plan, held.runtime, DWELL + 3_599.0, weak_at(DWELL + 3_599.0))
    assert still.action == "hold"
    paused = decide(plan, still.runtime, DWELL + 3_600.0, weak_at(DWELL + 3_600.0))
    assert paused.action == "pause" and paused.runtime.status == "paused"
    assert "no evidence of safety after the maximum hold of 1.0 h" in paused.reason
    assert paused.percent == 1.0


def test_time_mode_does_not_wait_for_evidence() -> None:
    plan = make_plan(advance_mode="time")
    assert decide(plan, started(plan), 600.0, weak_at(600.0)).action == "advance"


def test_an_advance_on_an_inconclusive_rule_says_so_rather_than_passing() -> None:
    plan = make_plan()
    advanced = decide(plan, started(plan), 600.0, weak_at(600.0))
    assert advanced.action == "advance" and advanced.outcomes[0].verdict == "inconclusive"
    assert advanced.reason.endswith("no health rule failed (of 1 rule: 1 inconclusive).")
    assert "passing" not in advanced.reason


def test_an_advance_on_passing_rules_counts_them() -> None:
    plan = make_plan()
    advanced = decide(plan, started(plan), 600.0, healthy_at(600.0))
    assert advanced.outcomes[0].verdict == "pass"
    assert advanced.reason.endswith("no health rule failed (of 1 rule: 1 passed).")


def test_resume_after_rollback_works_twice_in_a_row() -> None:
    plan = make_plan()
    runtime = started(plan)
    for attempt in (1, 2):
        rolled = decide(plan, runtime, 1_000.0 * attempt, BAD)
        assert rolled.action == "rollback"
        resumed = resume(plan, rolled.runtime, 1_000.0 * attempt + 100.0)
        assert resumed.action == "resume" and resumed.percent == 1.0
        runtime = resumed.runtime
        assert runtime.status == "running" and runtime.stage_index == 0
        assert runtime.run_number == 1 + attempt
        assert runtime.run_started_at == 1_000.0 * attempt + 100.0
        assert runtime.stage_started_at == runtime.run_started_at
        assert runtime.segment_starts == (runtime.run_started_at,)
        assert runtime.rules == ()
    # The new run starts from a fresh baseline: a fixed treatment gets a clean evaluation.
    assert decide(plan, runtime, runtime.stage_started_at + DWELL, HEALTHY).action == "advance"


def test_resume_from_a_chosen_stage() -> None:
    plan = make_plan()
    rolled = rollback(plan, started(plan), 50.0, "bad deploy")
    assert rolled.percent == 0.0 and "bad deploy" in rolled.reason
    resumed = resume(plan, rolled.runtime, 60.0, from_stage=1)
    assert resumed.percent == 50.0 and resumed.runtime.stage_index == 1
    with pytest.raises(TransitionError):
        resume(plan, rolled.runtime, 60.0, from_stage=3)


def test_pause_holds_the_percentage_and_resume_continues_the_stage() -> None:
    plan = make_plan()
    advanced = decide(plan, started(plan), 600.0, HEALTHY).runtime
    paused = pause(plan, advanced, 700.0, "investigating a ticket", by="bob")
    assert paused.percent == 50.0 and paused.runtime.status == "paused"
    held = decide(plan, paused.runtime, 2_000.0, HEALTHY)
    assert held.action == "hold" and held.waiting_on == "person" and held.percent == 50.0
    resumed = resume(plan, held.runtime, 2_100.0)
    assert resumed.runtime.stage_index == 1 and resumed.runtime.stage_started_at == 2_100.0


def test_rollback_rules_still_act_while_paused() -> None:
    plan = make_plan()
    paused = pause(plan, started(plan), 10.0).runtime
    decision = decide(plan, paused, 100.0, BAD)
    assert decision.action == "rollback" and decision.percent == 0.0


def test_a_pause_severity_rule_pauses_instead_of_rolling_back() -> None:
    rule = dataclasses.replace(ERRORS, severity="pause")
    plan = make_plan(rules=(rule,))
    decision = decide(plan, started(plan), 100.0, BAD)
    assert decision.action == "pause" and decision.percent == 1.0
    assert decision.reason.startswith("Paused at stage 1 (1%) for a person: treatment error rate")


def test_promote_skips_the_wait_and_completes_from_the_last_stage() -> None:
    plan = make_plan()
    runtime = started(plan)
    promoted = promote(plan, runtime, 10.0, "hotfix")
    assert promoted.action == "advance" and promoted.percent == 50.0
    assert promoted.runtime.run_number == 1 and promoted.runtime.segment_starts == (0.0, 10.0)
    last = promote(plan, promoted.runtime, 20.0).runtime
    done = promote(plan, last, 30.0)
    assert done.action == "complete" and done.runtime.status == "completed"


def test_relative_rule_compares_against_a_multiple_of_control() -> None:
    rule = RuleSpec(
        id="errors", metric="error_rate", comparison="vs_control_relative", threshold=0.5, min_samples=1_000
    )
    plan = make_plan(rules=(rule,))
    within = decide(plan, started(plan), 100.0, counts(100_000, 1_200, 1_000_000, 10_000))  # +20% < +50%
    assert within.outcomes[0].verdict == "pass"
    beyond = decide(plan, started(plan), 100.0, counts(100_000, 2_000, 1_000_000, 10_000))  # +100%
    assert beyond.action == "rollback" and "50% relative" in beyond.reason


def test_absolute_threshold_rule_fires_on_the_window_with_confirmations() -> None:
    rule = RuleSpec(
        id="abs",
        metric="error_rate",
        comparison="absolute_threshold",
        threshold=0.05,
        window_s=60.0,
        min_samples=100,
        confirmations=2,
    )
    plan = make_plan(rules=(rule,))

    def window(n: int, e: int) -> tuple[RuleObservation, ...]:
        cumulative = SegmentCounts(ArmCounts(10_000, 100), ArmCounts(1_000_000, 10_000))
        return (RuleObservation("abs", segments=(cumulative,), window=SegmentCounts(ArmCounts(n, e))),)

    runtime = started(plan)
    first = decide(plan, runtime, 15.0, window(600, 60))
    assert first.action == "hold" and first.outcomes[0].verdict == "inconclusive"
    second = decide(plan, first.runtime, 30.0, window(600, 61))
    assert second.action == "rollback" and "above the limit of 5.00%" in second.reason
    # A healthy tick in between resets the streak; too few samples never fire.
    reset = decide(plan, decide(plan, first.runtime, 30.0, window(600, 6)).runtime, 45.0, window(600, 60))
    assert reset.action == "hold"
    assert decide(plan, runtime, 15.0, window(50, 50)).outcomes[0].verdict == "insufficient_data"


LATENCY_BOUNDS = (50.0, 100.0, 200.0, 300.0, 500.0, 1_000.0)


def test_latency_percentile_rules_from_histograms() -> None:
    absolute = RuleSpec(
        id="p95",
        metric="latency_p",
        comparison="absolute_threshold",
        threshold=300.0,
        percentile=0.95,
        bucket_bounds_ms=LATENCY_BOUNDS,
        min_samples=100,
    )
    relative = RuleSpec(
        id="p95-vs-control",
        metric="latency_p",
        comparison="vs_control_absolute",
        threshold=50.0,
        percentile=0.95,
        bucket_bounds_ms=LATENCY_BOUNDS,
        min_samples=1_000,
    )
    plan = make_plan(rules=(absolute, relative))
    fast = (4_000, 3_000, 2_000, 600, 300, 80, 20)  # 10,000 requests, 4% slower than 300 ms
    slow = (3_000, 2_000, 2_000, 1_000, 1_000, 800, 200)  # 20% slower than 300 ms
    control = tuple(c * 10 for c in fast)

    def obs(treatment: tuple[int, ...]) -> tuple[RuleObservation, ...]:
        segment = SegmentCounts(grouped(sum(treatment), histogram=treatment), grouped(sum(control), histogram=control))
        window = SegmentCounts(ArmCounts(sum(treatment), histogram=treatment))
        return (
            RuleObservation("p95", segments=(segment,), window=window),
            RuleObservation("p95-vs-control", segments=(segment,)),
        )

    healthy = decide(plan, started(plan), 600.0, obs(fast))
    assert [o.verdict for o in healthy.outcomes] == ["pass", "pass"]
    assert healthy.action == "advance"
    broken = decide(plan, started(plan), 60.0, obs(slow))
    assert [o.verdict for o in broken.outcomes] == ["fail", "fail"]
    assert broken.action == "rollback" and "p95 latency" in broken.reason
    assert broken.outcomes[1].cutoff is not None and broken.outcomes[1].cutoff > broken.outcomes[1].control_value


def test_decide_is_pure() -> None:
    plan = make_plan()
    runtime = started(plan)
    assert decide(plan, runtime, 700.0, BAD) == decide(plan, runtime, 700.0, BAD)
    assert runtime.status == "running"


@pytest.mark.parametrize(
    ("action", "status"),
    [
        (lambda plan, rt: start(plan, rt, 1.0), "running"),
        (lambda plan, rt: pause(plan, rt, 1.0), "paused"),
        (lambda plan, rt: pause(plan, rt, 1.0), "draft"),
        (lambda plan, rt: resume(plan, rt, 1.0), "running"),
        (lambda plan, rt: resume(plan, rt, 1.0), "completed"),
        (lambda plan, rt: resume(plan, rt, 1.0), "cancelled"),
        (lambda plan, rt: rollback(plan, rt, 1.0), "draft"),
        (lambda plan, rt: rollback(plan, rt, 1.0), "rolled_back"),
        (lambda plan, rt: promote(plan, rt, 1.0), "completed"),
        (lambda plan, rt: cancel(plan, rt, 1.0), "completed"),
        (lambda plan, rt: cancel(plan, rt, 1.0), "cancelled"),
        (lambda plan, rt: approve(plan, rt, 1.0), "draft"),
    ],
)
def test_illegal_transitions_raise(action, status: str) -> None:
    plan = make_plan(StageSpec(1.0, DWELL, needs_approval=True), StageSpec(100.0, DWELL))
    runtime = dataclasses.replace(started(plan), status=status)
    with pytest.raises(TransitionError, match="cannot"):
        action(plan, runtime)


def test_approve_is_only_for_a_waiting_stage() -> None:
    plan = make_plan(StageSpec(1.0, DWELL), StageSpec(50.0, DWELL, needs_approval=True), StageSpec(100.0, DWELL))
    runtime = started(plan)
    with pytest.raises(TransitionError, match="does not need approval"):
        approve(plan, runtime, 1.0)
    with pytest.raises(TransitionError, match="stage 2"):
        approve(plan, runtime, 1.0, stage_index=1)  # a stale click for another stage
    at_second = decide(plan, runtime, 600.0, HEALTHY).runtime
    approved = approve(plan, at_second, 700.0, stage_index=1).runtime
    with pytest.raises(TransitionError, match="already approved"):
        approve(plan, approved, 701.0)


def test_cancel_is_terminal_and_serves_control() -> None:
    plan = make_plan()
    cancelled = cancel(plan, started(plan), 5.0, "wrong flag")
    assert cancelled.percent == 0.0 and cancelled.runtime.status == "cancelled"
    assert served_percent(plan, cancel(plan, PlanRuntime(), 1.0).runtime) == 0.0
    assert decide(plan, cancelled.runtime, 10.0, BAD).action == "hold"


@pytest.mark.parametrize(
    "stages",
    [
        (StageSpec(5.0, 60), StageSpec(5.0, 60)),
        (StageSpec(5.0, 60), StageSpec(1.0, 60)),
        (StageSpec(0.0005, 60),),
        (StageSpec(101.0, 60),),
        (),
    ],
)
def test_invalid_plans_are_rejected(stages: tuple[StageSpec, ...]) -> None:
    with pytest.raises(ValueError):
        PlanSpec(stages=stages)


def test_percent_granularity_and_formatting() -> None:
    plan = PlanSpec(stages=(StageSpec(0.001, 60), StageSpec(12.5, 60), StageSpec(100.0, 60)))
    assert [format_percent(s.percent) for s in plan.stages] == ["0.001%", "12.5%", "100%"]


def test_invalid_rules_are_rejected() -> None:
    with pytest.raises(ValueError):
        RuleSpec(id="x", metric="latency_p", comparison="absolute_threshold", threshold=300.0)
    with pytest.raises(ValueError):
        RuleSpec(id="x", metric="error_rate", comparison="absolute_threshold", threshold=5.0)
    with pytest.raises(ValueError):
        PlanSpec(stages=(StageSpec(1.0, 60),), rules=(ERRORS, ERRORS))


def test_periods_without_both_variants_do_not_count_towards_a_comparison() -> None:
    plan = make_plan()
    only_treatment = SegmentCounts(ArmCounts(5_000, 50), ArmCounts(0, 0))
    only_control = SegmentCounts(ArmCounts(0, 0), ArmCounts(5_000, 50))
    observation = (RuleObservation("errors", segments=(only_control, only_treatment)),)
    decision = decide(plan, started(plan), 600.0, observation)
    assert decision.outcomes[0].verdict == "insufficient_data"
    assert decision.action == "hold" and decision.waiting_on == "min_samples"


def test_outcomes_are_json_safe() -> None:
    plan = make_plan()
    for observations in (BAD, HEALTHY, SHORT, ()):
        decision = decide(plan, started(plan), 600.0, observations)
        json.dumps([dataclasses.asdict(o) for o in decision.outcomes], allow_nan=False)
    assert decide(plan, started(plan), 600.0, BAD).outcomes[0].lower is not None
    guarded = dataclasses.replace(decide(plan, started(plan), 600.0, BAD).outcomes[0], lower=float("-inf"))
    assert guarded.lower is None


def test_an_absolute_rule_fed_only_through_its_window_is_not_starved() -> None:
    rule = RuleSpec(id="abs", metric="error_rate", comparison="absolute_threshold", threshold=0.05, min_samples=100)
    plan = make_plan(rules=(rule,), starvation_timeout_s=900.0)
    runtime = started(plan)
    window_only = (RuleObservation("abs", window=SegmentCounts(ArmCounts(1_000, 10))),)
    for tick in range(1, 41):  # 600 s of dwell, no per-stage counts at all
        decision = decide(plan, runtime, tick * 15.0, window_only)
        runtime = decision.runtime
    assert decision.action == "advance"
    # An empty window for longer than the timeout does starve it.
    empty = (RuleObservation("abs", window=SegmentCounts()),)
    for tick in range(1, 62):
        decision = decide(plan, runtime, 600.0 + tick * 15.0, empty)
        runtime = decision.runtime
        if decision.action != "hold":
            break
    assert decision.action == "pause" and NOT_ENOUGH_TRAFFIC in decision.reason
