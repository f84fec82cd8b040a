"""The events Flagplane sends to webhooks. ``notify`` accepts other names too (flag events later).

The rollout events are the ones the rollout actions table (``rollouts/actions.py``) names.
"""

from controlplane.rollouts.actions import EVENTS as ROLLOUT_EVENTS

EVENT_TYPES = ROLLOUT_EVENTS
