"""A batch's holds are written together at the end of the batch, each only where the plan is still as
the tick read it: a person's action (promote, pause, roll back, the kill switch) made after the
batch was read wins, whether it committed before the holds are written or still holds the plan then.
"""

import threading

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from controlplane.audit.services import SYSTEM
from controlplane.flags import services as flag_services
from controlplane.flags.models import FlagState
from controlplane.flags.services import create_flag
from controlplane.rollouts import services
from controlplane.rollouts.models import Decision, RolloutPlan
from tests.rollouts.helpers import act, create_plan

pytestmark = pytest.mark.django_db(transaction=True)

STAGES = [{"percent": 1, "min_dwell_s": 600}, {"percent": 5, "min_dwell_s": 600}, {"percent": 50, "min_dwell_s": 600}]


@pytest.fixture
def dwelling(api, project):
    """``dwelling(count)``: started plans of their own flags, each evaluated once (a hold: the dwell)."""

    def make(count: int) -> list[int]:
        ids = []
        for _ in range(count):
            flag = create_flag(project, SYSTEM, key=f"held-{RolloutPlan.objects.count()}")
            plan = create_plan(api, STAGES, rules=[], flag=flag.key)
            act(api, plan["id"], "start")
            assert services.evaluate(plan["id"]).action == "hold"
            ids.append(plan["id"])
        return ids

    return make


def holds_seen(plan_id: int) -> int:
    return Decision.objects.filter(plan_id=plan_id, action="hold").aggregate(seen=Sum("repeats"))["seen"] or 0


def flag_state(plan_id: int) -> FlagState:
    plan = RolloutPlan.objects.get(pk=plan_id)
    return FlagState.objects.get(flag_id=plan.flag_id, environment_id=plan.environment_id)


def by_hand(api, plan_id: int, action: str) -> None:
    if action == "kill switch":
        flag_services.toggle_flag(flag_state(plan_id), SYSTEM, False, "incident")
    else:
        act(api, plan_id, action, reason="by hand")


AFTER = {
    "promote": ("running", 1, True),
    "pause": ("paused", 0, True),
    "rollback": ("rolled_back", 0, True),
    "kill switch": ("running", 0, False),
}
"""The plan's status, stage and whether its flag is on after each action by hand."""


@pytest.mark.parametrize("action", AFTER)
def test_a_persons_action_after_the_batch_was_read_wins_over_its_hold(api, dwelling, action):
    plan_ids = dwelling(3)
    touched = plan_ids[1]
    loaded = services.load_active(plan_ids)
    seen = {plan_id: holds_seen(plan_id) for plan_id in plan_ids}
    by_hand(api, touched, action)

    entries = services.evaluate_batch([loaded[plan_id] for plan_id in plan_ids])

    assert entries[touched] is None
    assert holds_seen(touched) == seen[touched]  # no hold of this tick in its log
    plan = RolloutPlan.objects.get(pk=touched)
    assert (plan.status, plan.stage_index, flag_state(touched).on) == AFTER[action]
    for plan_id in (plan_ids[0], plan_ids[2]):  # the batch's other plans held, their holds folded
        assert entries[plan_id].action == "hold"
        assert holds_seen(plan_id) == seen[plan_id] + 1


def test_the_holds_skip_a_plan_a_person_is_acting_on_without_waiting_and_the_action_wins(api, dwelling):
    plan_ids = dwelling(2)
    acting_on = plan_ids[0]
    loaded = services.load_active(plan_ids)
    seen = holds_seen(acting_on)
    locked, done = threading.Event(), threading.Event()

    def person() -> None:  # another connection: holds the plan's row, then pauses it
        try:
            with transaction.atomic():
                plan = RolloutPlan.objects.select_for_update().get(pk=acting_on)
                locked.set()
                done.wait(60)
                services.act(plan, "pause", SYSTEM, "by hand")
        finally:
            connection.close()

    acting = threading.Thread(target=person)
    acting.start()
    assert locked.wait(10)
    entries = services.evaluate_batch([loaded[plan_id] for plan_id in plan_ids])
    still_acting = acting.is_alive()
    done.set()
    acting.join(10)

    assert still_acting, "the holds waited for the person's transaction"
    assert entries[acting_on] is None
    assert entries[plan_ids[1]].action == "hold"
    assert RolloutPlan.objects.get(pk=acting_on).status == "paused"
    assert holds_seen(acting_on) == seen
    assert Decision.objects.filter(plan_id=acting_on).first().action == "pause"
