"""Conversions between rollout rows and the pure core's dataclasses (``plan_spec.py``).

``load_runtime`` is the one reader of a plan's stored runtime JSON; ``dump_runtime`` writes it.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, cast

from controlplane.rollouts.models import HealthRule, RolloutPlan
from controlplane.rollouts.plan_spec import (
    AdvanceMode,
    Comparison,
    Metric,
    PlanRuntime,
    PlanSpec,
    RuleMemory,
    RuleSpec,
    Severity,
    StageSpec,
)
from controlplane.rollouts.rules import RuleOutcome
from flagplane.metrics import LATENCY_BOUNDS_MS


def rule_spec(rule: HealthRule) -> RuleSpec:
    return RuleSpec(
        id=rule.key,
        name=rule.name,
        metric=cast(Metric, rule.metric),  # the model's choices are these literals
        comparison=cast(Comparison, rule.comparison),
        threshold=rule.threshold,
        severity=cast(Severity, rule.severity),
        min_samples=rule.min_samples,
        window_s=float(rule.window_s),
        percentile=rule.percentile,
        bucket_bounds_ms=tuple(float(b) for b in LATENCY_BOUNDS_MS) if rule.metric == "latency_p" else (),
    )


def plan_spec(plan: RolloutPlan) -> PlanSpec:
    return PlanSpec(
        stages=tuple(
            StageSpec(
                percent=float(stage.percent),
                min_dwell_s=float(stage.min_dwell_s),
                needs_approval=stage.needs_approval,
                external_check=bool(stage.external_check_url),
            )
            for stage in plan.stages.all()
        ),
        rules=tuple(rule_spec(rule) for rule in plan.rules.all()),
        advance_mode=cast(AdvanceMode, plan.advance_mode),
        max_hold_s=float(plan.max_hold_s),
        starvation_timeout_s=float(plan.starvation_timeout_s),
        alpha=plan.alpha,
    )


def load_runtime(plan: RolloutPlan) -> PlanRuntime:
    data = dict(plan.runtime or {})
    if not data:
        return PlanRuntime()
    data["segment_starts"] = tuple(data.get("segment_starts", ()))
    data["rules"] = tuple(RuleMemory(**memory) for memory in data.get("rules", ()))
    return PlanRuntime(**data)


_RUNTIME_FIELDS = tuple(field.name for field in fields(PlanRuntime))
_MEMORY_FIELDS = tuple(field.name for field in fields(RuleMemory))
_OUTCOME_FIELDS = tuple(field.name for field in fields(RuleOutcome))


def dump_runtime(runtime: PlanRuntime) -> dict[str, Any]:
    """``runtime`` as JSON (``dataclasses.asdict``'s, without its deep copies: every value is a
    number, a string or None but the two tuples)."""
    data = {name: getattr(runtime, name) for name in _RUNTIME_FIELDS}
    data["segment_starts"] = list(runtime.segment_starts)
    data["rules"] = [{name: getattr(memory, name) for name in _MEMORY_FIELDS} for memory in runtime.rules]
    return data


def outcome_dict(outcome: RuleOutcome) -> dict[str, Any]:
    return {name: getattr(outcome, name) for name in _OUTCOME_FIELDS}
