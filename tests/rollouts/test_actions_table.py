"""The admin's buttons, the API's actions, the core's refusals and the webhook events are the
actions table's (``controlplane/rollouts/actions.py``), and nothing else."""

from __future__ import annotations

from types import SimpleNamespace
from typing import get_args

import pytest

from controlplane.api.rollouts import RolloutPlanViewSet
from controlplane.notifications.events import EVENT_TYPES
from controlplane.rollouts import actions
from controlplane.rollouts.admin import available_transitions
from controlplane.rollouts.decision import Action
from controlplane.rollouts.errors import TransitionError
from controlplane.rollouts.plan_spec import PlanRuntime, PlanSpec, StageSpec, Status
from controlplane.rollouts.transitions import act

STATUSES = get_args(Status)
PERSON = [action.name for action in actions.PERSON_ACTIONS]
PLAN = PlanSpec(stages=(StageSpec(1.0, 0.0, needs_approval=True), StageSpec(100.0, 0.0)))


def stub_plan(status: str) -> SimpleNamespace:
    """What ``available_transitions`` reads of a plan: at stage 1, which waits for approval."""
    stage = SimpleNamespace(needs_approval=True)
    return SimpleNamespace(status=status, stage_index=0, runtime={}, stages=SimpleNamespace(all=lambda: [stage]))


@pytest.mark.parametrize("status", STATUSES)
def test_the_admin_shows_the_person_actions_the_table_allows_from_each_status(status):
    shown = [action.name for action in available_transitions(stub_plan(status))]
    assert shown == [name for name in PERSON if status in actions.BY_NAME[name].allowed_from]


def test_the_api_has_one_post_action_per_person_action_with_its_permission():
    posts = {extra.__name__ for extra in RolloutPlanViewSet.get_extra_actions() if "post" in extra.mapping}
    assert posts == set(PERSON)
    assert {name: RolloutPlanViewSet.access[name] for name in PERSON} == {
        action.name: action.permission for action in actions.PERSON_ACTIONS
    }


def test_the_webhook_events_are_the_tables_and_every_one_is_a_decision_the_core_takes():
    assert EVENT_TYPES == actions.EVENTS
    assert "rollout.promoted" not in EVENT_TYPES
    decided = set(get_args(Action))
    assert {action.name for action in actions.ACTIONS if action.event} <= decided
    assert {action.name for action in actions.ACTIONS} == decided | {"promote"}


@pytest.mark.parametrize("name", PERSON)
@pytest.mark.parametrize("status", STATUSES)
def test_the_core_allows_a_person_action_exactly_from_the_tables_statuses(name, status):
    runtime = PlanRuntime(status=status, run_number=1, segment_starts=(0.0,), stage_started_at=0.0)
    if status in actions.BY_NAME[name].allowed_from:
        step = act(name, PLAN, runtime, 1.0, reason="because", by="alice")
        assert step.actor == "person"
    else:
        with pytest.raises(TransitionError, match=f"cannot {actions.BY_NAME[name].verb} a rollout that is"):
            act(name, PLAN, runtime, 1.0, reason="because", by="alice")
