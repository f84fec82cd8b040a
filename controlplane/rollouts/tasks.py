"""Celery tasks of the rollout engine: a beat-driven tick fans out the active plans' evaluations,
a batch of plans per task."""

import uuid

from celery import shared_task

from controlplane.rollouts import measurements, queued, services
from controlplane.rollouts.models import RolloutPlan

BATCH = 50
"""Plans per evaluation task. A batch's plans are read together (``services.load_active``: seven
queries however many plans) and its holds written together (``services.evaluate_batch``: four), and
a tick of 5,000 plans queues 100 tasks instead of 5,000. Chosen
by measurement (bench/scale_engine.py at 2,000 plans, a loaded 2-core machine): 50 and 100 plans a
task evaluated 1.1-1.7 times as many plans a second as 20; a batch of 50 (20-80 ms a plan there)
ends within a few seconds, so a plan's claim and a rollback's delay stay within a tick."""


@shared_task(name="rollouts.tick")
def tick() -> int:
    """Queue an evaluation of every running or paused plan (paused plans still watch for regressions),
    except those whose previous evaluation is still queued or running; returns how many it queued."""
    plan_ids = list(RolloutPlan.objects.filter(status__in=RolloutPlan.ACTIVE).values_list("id", flat=True))
    token = uuid.uuid4().hex
    claimed = queued.claim(plan_ids, token)
    with evaluate_plans.app.producer_or_acquire() as producer:
        for start in range(0, len(claimed), BATCH):
            try:
                evaluate_plans.apply_async((claimed[start : start + BATCH], token), producer=producer)
            except Exception:
                queued.release(claimed[start:], token)  # not queued: the next tick may try them again
                raise
    return len(claimed)


@shared_task(name="rollouts.evaluate_plans")
def evaluate_plans(plan_ids: list[int], token: str) -> None:
    """A tick's batch of plans: read together, then evaluated (``services.evaluate_batch``); each
    is released as soon as it is evaluated."""
    try:
        plans = services.load_active(plan_ids)
    except Exception:
        queued.release(plan_ids, token)
        raise
    queued.release([plan_id for plan_id in plan_ids if plan_id not in plans], token)  # not active (or gone)
    services.evaluate_batch(
        [plans[plan_id] for plan_id in plan_ids if plan_id in plans], done=lambda done: queued.release(done, token)
    )


@shared_task(name="rollouts.evaluate_plan")
def evaluate_plan(plan_id: int) -> None:
    """One plan's evaluation, queued after a person's action (it holds no claim)."""
    services.evaluate(plan_id)


@shared_task(name="rollouts.prune_counts")
def prune_counts() -> dict[str, int]:
    """Hourly (CELERY_BEAT_SCHEDULE["rollouts-prune-counts"]): delete the stored counts of
    finished plans and of runs before a plan's current one."""
    return measurements.prune()
