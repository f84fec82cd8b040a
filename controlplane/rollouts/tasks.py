"""Celery tasks of the rollout engine: a beat-driven tick fans out one evaluation per active plan."""

from celery import shared_task

from controlplane.rollouts import services
from controlplane.rollouts.models import RolloutPlan


@shared_task(name="rollouts.tick")
def tick() -> int:
    """Queue an evaluation of every running or paused plan (paused plans still watch for regressions)."""
    plan_ids = list(RolloutPlan.objects.filter(status__in=RolloutPlan.ACTIVE).values_list("id", flat=True))
    for plan_id in plan_ids:
        evaluate_plan.delay(plan_id)
    return len(plan_ids)


@shared_task(name="rollouts.evaluate_plan")
def evaluate_plan(plan_id: int) -> None:
    services.evaluate(plan_id)
