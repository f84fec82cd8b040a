"""Every action name the audit log records, written once: the service functions record these.

A name is ``<object>.<verb>``, the object in the words of the admin and the API. A rollout's
decisions are recorded as ``rollout.<name>``, ``name`` from the actions table in
``rollouts/actions.py`` (``rollout_decision``).
"""

from __future__ import annotations

PROJECT_CREATE = "project.create"
PROJECT_UPDATE = "project.update"
ENVIRONMENT_CREATE = "environment.create"
ENVIRONMENT_UPDATE = "environment.update"
SDK_KEY_ISSUE = "sdk_key.issue"
SDK_KEY_REVOKE = "sdk_key.revoke"
CLIENT_KEY_ISSUE = "client_key.issue"
CLIENT_KEY_REVOKE = "client_key.revoke"
API_TOKEN_ISSUE = "api_token.issue"
API_TOKEN_REVOKE = "api_token.revoke"
ROLE_GRANT = "role.grant"
ROLE_REVOKE = "role.revoke"

FLAG_CREATE = "flag.create"
FLAG_UPDATE = "flag.update"
FLAG_ARCHIVE = "flag.archive"
FLAG_RESTORE = "flag.restore"
FLAG_TURN_ON = "flag.turn_on"
FLAG_TURN_OFF = "flag.turn_off"
FLAG_STATE_UPDATE = "flag_state.update"
"""Any other change of a flag's state in one environment (targeting, default, variants served)."""
FLAG_ROLLOUT_SPLIT = "flag.rollout_split"
"""A rollout plan changed the share of its flag's treatment."""
SEGMENT_CREATE = "segment.create"
SEGMENT_UPDATE = "segment.update"
SEGMENT_DELETE = "segment.delete"

ROLLOUT_CREATE = "rollout.create"
ROLLOUT_UPDATE = "rollout.update"
ROLLOUT_DELETE = "rollout.delete"

WEBHOOK_CREATE = "webhook.create"
WEBHOOK_UPDATE = "webhook.update"
WEBHOOK_DELETE = "webhook.delete"
WEBHOOK_DELIVERY_RETRY = "webhook_delivery.retry"


def rollout_decision(name: str) -> str:
    """The action of a rollout decision's entry: ``rollout.advance``, ``rollout.rollback``..."""
    return f"rollout.{name}"
