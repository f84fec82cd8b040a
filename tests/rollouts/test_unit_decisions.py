"""decide() per unit: old-format counts, the plan's error budget, the sample-ratio check (pure)."""

from __future__ import annotations

from controlplane.rollouts.decision import Gates, decide
from controlplane.rollouts.observations import ArmCounts, RuleObservation, SegmentCounts
from controlplane.rollouts.plan_spec import PlanRuntime, PlanSpec, RuleSpec, StageSpec
from controlplane.rollouts.rules import Levels
from controlplane.rollouts.transitions import start
from controlplane.rollouts.unit_stats import LEGACY_DESIGN_EFFECT
from tests.rollouts.helpers import grouped

DWELL = 600.0


def rule(rule_id: str = "errors", **fields) -> RuleSpec:
    return RuleSpec(
        id=rule_id, metric="error_rate", comparison="vs_control_absolute", threshold=0.005, min_samples=500, **fields
    )


def plan(*rules: RuleSpec) -> PlanSpec:
    return PlanSpec(stages=(StageSpec(10.0, DWELL), StageSpec(100.0, DWELL)), rules=rules or (rule(),))


def running(spec: PlanSpec) -> PlanRuntime:
    return start(spec, PlanRuntime(), 0.0).runtime


def observe(treatment: ArmCounts, control: ArmCounts, rule_id: str = "errors") -> RuleObservation:
    return RuleObservation(rule_id, segments=(SegmentCounts(treatment, control),))


def test_counts_from_old_sdks_are_judged_per_request_conservatively_and_say_so():
    spec = plan()
    old = observe(ArmCounts(20_000, 200, ungrouped=20_000), ArmCounts(180_000, 1_800, ungrouped=180_000))
    new = observe(grouped(20_000, 200), grouped(180_000, 1_800))
    (legacy,) = decide(spec, running(spec), DWELL, (old,)).outcomes
    (unit,) = decide(spec, running(spec), DWELL, (new,)).outcomes
    assert legacy.basis == "requests" and unit.basis == "units"
    assert "judged per request, conservatively" in legacy.summary and "wire format 1" in legacy.summary
    assert legacy.std_error > unit.std_error
    assert legacy.design_effect == LEGACY_DESIGN_EFFECT
    # Same counts, same numbers shown, wider bounds.
    assert (legacy.treatment_n, legacy.treatment_events) == (unit.treatment_n, unit.treatment_events) == (20_000, 200)
    assert legacy.upper - legacy.lower > unit.upper - unit.lower


def test_one_segment_with_old_sdks_makes_the_whole_rule_conservative():
    spec = plan()
    mixed = grouped(20_000, 200)
    mixed = ArmCounts(mixed.total + 100, mixed.events, groups=mixed.groups, ungrouped=100)
    (outcome,) = decide(spec, running(spec), DWELL, (observe(mixed, grouped(180_000, 1_800)),)).outcomes
    assert outcome.basis == "requests"


def test_decisions_show_the_numbers_per_unit_and_per_request():
    spec = plan()
    (outcome,) = decide(spec, running(spec), DWELL, (observe(grouped(20_000, 200), grouped(180_000, 1_800)),)).outcomes
    assert outcome.verdict == "pass"
    assert round(outcome.treatment_groups) == 64 and round(outcome.control_groups) == 64
    assert outcome.std_error >= outcome.request_std_error > 0
    assert "per unit: standard error" in outcome.summary and "per request" in outcome.summary
    assert "effective unit groups" in outcome.summary


def test_traffic_from_too_few_units_is_not_enough_to_judge():
    spec = plan()
    few = ArmCounts(3_000, 3_000, groups=((1_000, 1_000), (1_000, 1_000), (1_000, 1_000)) + ((0, 0),) * 61)
    decision = decide(spec, running(spec), DWELL, (observe(few, grouped(180_000, 1_800)),))
    (outcome,) = decision.outcomes
    assert outcome.verdict == "insufficient_data" and "too few units" in outcome.summary
    assert decision.action == "hold" and decision.waiting_on == "min_samples"


def test_a_plan_with_three_comparative_rules_splits_its_alpha_for_failing_only():
    spec = PlanSpec(stages=(StageSpec(10.0, DWELL),), rules=(rule("a"), rule("b"), rule("c")), alpha=0.06)
    levels = Levels.for_plan(spec)
    assert (levels.fail, levels.pass_) == (0.02, 0.06)
    observations = [observe(grouped(20_000, 200), grouped(180_000, 1_800), rule_id) for rule_id in "abc"]
    outcome = decide(spec, running(spec), DWELL, observations).outcomes[0]
    assert "98% lower / 94% upper bounds" in outcome.summary


def test_the_budget_makes_each_of_several_rules_slower_to_fail():
    # A regression the single rule catches, with lower bounds at alpha / 3 it is not yet proven.
    bad = observe(grouped(4_000, 56), grouped(36_000, 360))
    alone = decide(plan(), running(plan()), DWELL, (bad,)).outcomes[0]
    three = plan(rule(), rule("b"), rule("c"))
    shared = decide(
        three, running(three), DWELL, (bad, *(observe(grouped(4_000, 40), grouped(36_000, 360), r) for r in "bc"))
    )
    assert shared.outcomes[0].lower < alone.lower


def traffic(treatment_per_group: int, control_per_group: int) -> tuple[SegmentCounts, ...]:
    return (
        SegmentCounts(grouped(treatment_per_group * 64, 0, groups=64), grouped(control_per_group * 64, 0, groups=64)),
    )


def test_a_treatment_that_loses_signals_pauses_for_a_sample_ratio_mismatch_with_the_numbers():
    spec = plan()
    healthy = observe(grouped(32_000, 320), grouped(576_000, 5_760))
    decision = decide(spec, running(spec), 60.0, (healthy,), Gates(traffic=traffic(500, 9_000)))
    assert decision.action == "pause" and decision.runtime.status == "paused"
    assert "sample ratio mismatch" in decision.reason
    assert "reported 32000 of 608000 health signals" in decision.reason
    assert "where the split serves 60800" in decision.reason


def test_an_honoured_split_and_a_heavy_unit_are_not_a_sample_ratio_mismatch():
    spec = plan()
    healthy = observe(grouped(64_000, 640), grouped(576_000, 5_760))
    honoured = decide(spec, running(spec), 60.0, (healthy,), Gates(traffic=traffic(1_000, 9_000)))
    assert honoured.action == "hold"
    heavy_groups = tuple((1_000 + (20_000 if g == 7 else 0), 0) for g in range(64))
    heavy = SegmentCounts(ArmCounts(sum(n for n, _ in heavy_groups), groups=heavy_groups), grouped(576_000))
    decision = decide(spec, running(spec), 60.0, (healthy,), Gates(traffic=(heavy,)))
    assert decision.action == "hold"
