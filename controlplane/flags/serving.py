"""What a flag serves in one environment, in a few words: the flag list, the API and `list_flags` say it.

"ON: 25% on / 75% off", "ON: rules, then off", "OFF: serves off". A green "ON" badge alone hides
that an ON flag may serve its off variant to everyone (a split rolled back to 0%, say).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch

from controlplane.flags.models import Flag
from flagplane.bucketing import BUCKET_SPACE


def percent_text(weight: int) -> str:
    """12500 -> "12.5%": a split weight (thousandths of a percent) as a percentage."""
    return f"{weight * 100 / BUCKET_SPACE:.3f}".rstrip("0").rstrip(".") + "%"


def _shares(serve: dict[str, Any]) -> list[tuple[str, int]]:
    """A serve as (variant, weight) pairs; a split's variants at 0% are left out."""
    if "split" not in serve:
        return [(str(serve.get("variant", "?")), BUCKET_SPACE)]
    return [(str(item["variant"]), item["weight"]) for item in serve["split"] if item.get("weight")]


def describe_serve(serve: dict[str, Any]) -> str:
    """A default serve (or a rule's serve): "on", or "25% on / 75% off"."""
    shares = _shares(serve)
    if len(shares) == 1:
        return shares[0][0]
    return " / ".join(f"{percent_text(weight)} {variant}" for variant, weight in shares)


def serving_summary(
    *, on: bool, off_variant: str, default_serve: dict[str, Any], targets: list[Any], rules: list[Any]
) -> str:
    """What the SDKs serve: the kill switch first, then targets and rules, then the default serve."""
    if not on:
        return f"OFF: serves {off_variant}"
    default = describe_serve(default_serve or {})
    targeted = [name for name, present in (("targets", targets), ("rules", rules)) if present]
    if targeted:
        return f"ON: {' and '.join(targeted)}, then {default}"
    return f"ON: {default}" if len(_shares(default_serve or {})) > 1 else f"ON: serves {default}"


def state_summary(state: Any) -> str:
    """``serving_summary`` of a FlagState (its flag gives the off variant)."""
    return serving_summary(
        on=state.on,
        off_variant=state.flag.off_variant,
        default_serve=state.default_serve,
        targets=state.targets,
        rules=state.rules,
    )


def variant_share(state: Any, variant: str) -> float:
    """The percentage of a FlagState's default serve that gets ``variant`` now (0 when the flag is off)."""
    if not state.on:
        return 0.0
    return sum(weight for name, weight in _shares(state.default_serve or {}) if name == variant) * 100 / BUCKET_SPACE


def active_rollouts() -> Prefetch:
    """Each flag's running or paused rollout plans, as ``flag.active_rollouts``, with their ``stage_count``.

    The plan model is reached through the relation rather than imported: rollouts build on flags,
    not the other way round.
    """
    plans = Flag.rollout_plans.rel.related_model.objects.filter(status__in=("running", "paused"))
    return Prefetch("rollout_plans", plans.annotate(stage_count=Count("stages")), to_attr="active_rollouts")


def rollout_stage(plan: Any) -> str:
    """ "rollout running at stage 2 of 3" for a plan from ``active_rollouts``."""
    status = "paused" if plan.status == "paused" else "running"
    return f"rollout {status} at stage {plan.stage_index + 1} of {plan.stage_count}"
