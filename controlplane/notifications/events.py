"""The events Flagplane sends to webhooks. ``notify`` accepts other names too (flag events later)."""

ROLLOUT_EVENTS = (
    "rollout.started",
    "rollout.advanced",
    "rollout.paused",
    "rollout.resumed",
    "rollout.approved",
    "rollout.promoted",
    "rollout.rolled_back",
    "rollout.completed",
    "rollout.cancelled",
)

EVENT_TYPES = ROLLOUT_EVENTS
