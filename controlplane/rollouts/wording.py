"""How the rollout core says things: numbers, durations, stages and the sentences of its reasons.

Pure string formatting; the decision log, the admin, the API and the webhooks show these words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import unit_stats
from .plan_spec import PlanSpec, RuleSpec

if TYPE_CHECKING:
    from .rules import RuleOutcome

NOT_ENOUGH_TRAFFIC = "not enough traffic"
"""The words of every starvation pause (people and tests look for them)."""

_VERDICT_WORDS = {"pass": "passed", "inconclusive": "inconclusive", "insufficient_data": "short of samples"}


def format_percent(percent: float) -> str:
    """12.5 -> '12.5%', 1.0 -> '1%', 0.001 -> '0.001%'."""
    text = f"{percent:.3f}".rstrip("0").rstrip(".")
    return f"{text}%"


def rate(value: float) -> str:
    return f"{value * 100:.2f}%"


def pp(value: float) -> str:
    return f"{value * 100:+.2f} pp"


def ms(value: float) -> str:
    return f"{value:.0f} ms"


def duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def level(alpha: float) -> str:
    """The confidence of a bound at error level ``alpha``: 0.05 -> '95%'."""
    return f"{(1 - alpha) * 100:g}%"


def stage_label(plan: PlanSpec, index: int) -> str:
    """'stage 2 (5%)' for the 0-based ``index``."""
    return f"stage {index + 1} ({format_percent(plan.stages[index].percent)})"


def who(actor_name: str) -> str:
    """' by alice' for a person's action, or nothing when nobody is named."""
    return f" by {actor_name}" if actor_name else ""


def metric_name(rule: RuleSpec) -> str:
    if rule.metric == "error_rate":
        return "error rate"
    if rule.metric == "ratio":
        return rule.label
    return f"p{rule.percentile * 100:g} latency"  # type: ignore[operator]


def tolerance_text(rule: RuleSpec) -> str:
    if rule.comparison == "vs_control_relative":
        return f"{rule.threshold * 100:g}% relative"
    if rule.metric == "latency_p":
        return f"+{rule.threshold:g} ms"
    return f"{rule.threshold * 100:+g} pp"


def unit_phrase(diff: unit_stats.UnitBounds) -> str:
    """How the variance was judged, for a rule's summary."""
    if diff.basis == "requests":
        return (
            f"judged per request, conservatively (variance x{unit_stats.LEGACY_DESIGN_EFFECT:g}): "
            "these counts carry no unit groups (SDKs of metrics wire format 1, or an external source)"
        )
    treatment, control = diff.effective_groups
    return (
        f"per unit: standard error {pp(diff.std_error).lstrip('+')} vs {pp(diff.request_std_error).lstrip('+')} "
        f"per request, design effect {diff.design_effect:.1f}, {treatment:.0f} / {control:.0f} effective unit groups"
    )


def sample_ratio_text(result: unit_stats.SampleRatio, alpha: float) -> str:
    """Why a sample-ratio mismatch pauses the rollout, with its numbers (``alpha``: the check's level)."""
    return (
        f"sample ratio mismatch: the treatment reported {result.observed} of {result.total} health "
        f"signals with unit groups since the split settled, where the split serves {result.expected:.0f} "
        f"({result.deviation * 100:+.1f}%, {level(alpha)} bounds {result.lower * 100:+.1f}% to "
        f"{result.upper * 100:+.1f}%, {result.effective_groups:.0f} effective unit groups); requests that never "
        "report (a crash before the SDK records the error) or variants cached by clients make every comparison "
        "of the arms unreliable"
    )


def clause(outcome: RuleOutcome) -> str:
    """The outcome's summary as a clause of a sentence, naming its rule."""
    return f"{outcome.summary} (rule {outcome.rule_id})"


def clauses(outcomes: Sequence[RuleOutcome]) -> str:
    return "; ".join(clause(outcome) for outcome in outcomes)


def health_phrase(outcomes: Sequence[RuleOutcome]) -> str:
    """Why a stage may advance: every gate passed, with the count of each rule verdict."""
    if not outcomes:
        return "dwell time elapsed and no health rules are configured"
    counts = {verdict: sum(1 for o in outcomes if o.verdict == verdict) for verdict in _VERDICT_WORDS}
    tally = ", ".join(f"{counts[verdict]} {word}" for verdict, word in _VERDICT_WORDS.items() if counts[verdict])
    rules = "rule" if len(outcomes) == 1 else "rules"
    return f"dwell time elapsed, every gate passed and no health rule failed (of {len(outcomes)} {rules}: {tally})"
