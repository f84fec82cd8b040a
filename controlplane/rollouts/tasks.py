"""Celery tasks of the rollout engine: a beat-driven tick fans out one evaluation per active plan."""

import uuid

from celery import shared_task

from controlplane.rollouts import queued, services
from controlplane.rollouts.models import RolloutPlan


@shared_task(name="rollouts.tick")
def tick() -> int:
    """Queue an evaluation of every running or paused plan (paused plans still watch for regressions),
    except those whose previous evaluation is still queued or running; returns how many it queued."""
    plan_ids = list(RolloutPlan.objects.filter(status__in=RolloutPlan.ACTIVE).values_list("id", flat=True))
    token = uuid.uuid4().hex
    claimed = queued.claim(plan_ids, token)
    for sent, plan_id in enumerate(claimed):
        try:
            evaluate_plan.delay(plan_id, token)
        except Exception:
            queued.release(claimed[sent:], token)  # not queued: the next tick may try them again
            raise
    return len(claimed)


@shared_task(name="rollouts.evaluate_plan")
def evaluate_plan(plan_id: int, token: str = "") -> None:
    """One plan's evaluation; ``token`` is the claim of the tick that queued it (none: a person's action)."""
    try:
        services.evaluate(plan_id)
    finally:
        if token:
            queued.release([plan_id], token)
