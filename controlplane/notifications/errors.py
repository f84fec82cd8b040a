"""What a write to webhooks can refuse."""

from __future__ import annotations

from controlplane.errors import FieldErrors


class WebhookError(FieldErrors):
    """An invalid webhook (its URL, say)."""
