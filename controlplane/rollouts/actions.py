"""Every action a rollout knows, as one table: the admin's buttons, the API's actions, the states
each is allowed from, the webhook events and the permission are all read from ``ACTIONS``.

Plain data with no Django, so the pure decision core reads it too. A person's action (one with a
``label``) is a button on the plan's admin page and ``POST /api/v1/rollouts/<id>/<name>/``; the
others are only taken by the engine. A promotion is recorded as the decision it leads to
(``advance``, or ``complete`` at the last stage), so it sends that decision's event.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RolloutAction:
    """One action.

    ``name``: its name in URLs, the decision log and the audit log (``rollout.<name>``).
    ``label``: the admin button; empty for the engine's own actions.
    ``allowed_from``: the plan statuses a person may take it from (the engine's: where it happens).
    ``verb``: the action in a refusal ("cannot roll back a rollout that is draft").
    ``reason_required``: a person must say why (admin and API refuse without one).
    ``confirm``: the admin asks for a confirmation first.
    ``stage_field``: the 1-based stage number the action reads (``resume``: where to restart,
    ``approve``: the stage the person looked at), or "".
    ``event``: the webhook event sent when a decision with this action is taken, or "".
    ``permission``: the role action (``access.policy``) a person needs.
    ``explanation``: what it does, for the admin page and the API documentation.
    """

    name: str
    allowed_from: tuple[str, ...]
    event: str = ""
    label: str = ""
    verb: str = ""
    reason_required: bool = False
    confirm: bool = False
    stage_field: str = ""
    permission: str = "rollout.write"
    explanation: str = ""

    @property
    def by_person(self) -> bool:
        return bool(self.label)

    @property
    def title(self) -> str:
        """The label without its ellipsis, as messages start ("Roll back: done.")."""
        return self.label.rstrip("…")


ACTIONS: tuple[RolloutAction, ...] = (
    RolloutAction(
        "start",
        ("draft",),
        event="rollout.started",
        label="Start",
        verb="start",
        explanation="Turns the flag on with stage 1's share of the treatment.",
    ),
    RolloutAction("advance", ("running",), event="rollout.advanced"),
    RolloutAction(
        "pause",
        ("running",),
        event="rollout.paused",
        label="Pause",
        verb="pause",
        explanation="Holds the current share; rollback rules keep acting.",
    ),
    RolloutAction(
        "resume",
        ("paused", "rolled_back"),
        event="rollout.resumed",
        label="Resume",
        verb="resume",
        stage_field="from_stage",
        explanation="Starts a new run: a fresh dwell and a fresh statistical baseline.",
    ),
    RolloutAction(
        "approve",
        ("running", "paused"),
        event="rollout.approved",
        label="Approve stage",
        verb="approve",
        stage_field="stage",
        permission="rollout.approve",
        explanation="Lets the current stage advance once its other conditions hold.",
    ),
    RolloutAction(
        "promote",
        ("running", "paused"),
        label="Promote now",
        verb="promote",
        explanation="Skips the rest of this stage: the next one now, or complete at the last.",
    ),
    RolloutAction(
        "rollback",
        ("running", "paused"),
        event="rollout.rolled_back",
        label="Roll back…",
        verb="roll back",
        reason_required=True,
        confirm=True,
        explanation="The treatment goes to 0%: everyone gets the control. It can be resumed later.",
    ),
    RolloutAction("complete", ("running", "paused"), event="rollout.completed"),
    RolloutAction(
        "cancel",
        ("draft", "running", "paused", "rolled_back"),
        event="rollout.cancelled",
        label="Cancel…",
        verb="cancel",
        confirm=True,
        explanation="Ends the plan for good: the treatment goes to 0% and the plan cannot be resumed.",
    ),
    RolloutAction("hold", ("running", "paused")),
)

BY_NAME: dict[str, RolloutAction] = {action.name: action for action in ACTIONS}
PERSON_ACTIONS: tuple[RolloutAction, ...] = tuple(action for action in ACTIONS if action.by_person)
EVENTS: tuple[str, ...] = tuple(action.event for action in ACTIONS if action.event)


def event_of(action: str) -> str:
    """The webhook event of a decision's action ("" when it sends none)."""
    return BY_NAME[action].event


def available_to_person(status: str) -> list[RolloutAction]:
    """The person's actions allowed from ``status``, in the order the admin shows them."""
    return [action for action in PERSON_ACTIONS if status in action.allowed_from]
