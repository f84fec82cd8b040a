"""What a write to a rollout plan can refuse."""

from __future__ import annotations

from controlplane.errors import Conflict, FieldErrors


class PlanError(FieldErrors):
    """An invalid rollout plan."""


class TransitionRefused(Conflict):
    """A person asked for a transition the plan's state does not allow."""
