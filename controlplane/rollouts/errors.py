"""What a write to a rollout plan can refuse."""

from __future__ import annotations

from controlplane.errors import Conflict, FieldErrors


class PlanError(FieldErrors):
    """An invalid rollout plan."""


class TransitionError(ValueError):
    """The pure core's refusal of a person's action from the current state (``transitions.py``);
    ``services.act`` turns it into ``TransitionRefused``."""


class TransitionRefused(Conflict):
    """A person asked for a transition the plan's state does not allow (HTTP 409)."""
