"""A tick queues its plans in batches (``tasks.BATCH`` plans per task) to a real Celery worker."""

import pytest
from django.utils import timezone

from controlplane.audit.services import SYSTEM
from controlplane.flags.services import create_flag
from controlplane.rollouts import queued, tasks
from controlplane.rollouts.models import RolloutPlan
from tests.helpers import wait_until_worker_idle
from tests.rollouts.helpers import act, create_plan

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PLANS = tasks.BATCH + 5


@pytest.fixture
def started_plans(celery_worker, api, project) -> list[int]:
    ids = []
    for i in range(PLANS):
        create_flag(project, SYSTEM, key=f"batched-{i}")
        plan = create_plan(api, [{"percent": 5, "min_dwell_s": 600}, {"percent": 100, "min_dwell_s": 600}], rules=[],
                           flag=f"batched-{i}")  # fmt: skip
        act(api, plan["id"], "start")
        ids.append(plan["id"])
    wait_until_worker_idle(timeout=120)
    return ids


def test_every_plan_of_a_tick_is_evaluated_and_released(started_plans):
    before = timezone.now()
    assert tasks.tick() == PLANS
    wait_until_worker_idle()
    assert RolloutPlan.objects.filter(evaluated_at__gte=before).count() == PLANS
    assert queued.claim(started_plans, "next") == started_plans  # nothing is still claimed


def test_a_plan_whose_evaluation_fails_does_not_stop_the_rest_of_its_batch(started_plans):
    broken = started_plans[0]
    RolloutPlan.objects.filter(pk=broken).update(runtime={"status": "running", "not_a_field": 1})
    before = timezone.now()
    assert tasks.tick() == PLANS
    wait_until_worker_idle()
    evaluated = set(RolloutPlan.objects.filter(evaluated_at__gte=before).values_list("id", flat=True))
    assert evaluated == set(started_plans[1:])
    assert queued.claim([broken], "next") == [broken]  # released too: the next tick tries it again
