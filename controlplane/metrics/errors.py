"""What metrics ingestion and metric sources can refuse or fail with."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from controlplane.errors import FieldErrors


class BatchError(FieldErrors):
    """A metrics batch that cannot be counted; nothing of it is stored.

    ``errors`` is keyed like the body, as the API reports it: a field's messages, or an object's
    (or a list's, by position) nested errors: ``{"flags": {"3": {"latency_ms": ["…"]}}}``.
    """

    def __init__(self, errors: dict[str, Any]):
        super().__init__(dict(_flattened(errors, "")))
        self.errors = errors


def _flattened(errors: dict[str, Any], prefix: str) -> Iterator[tuple[str, list[str]]]:
    for name, detail in errors.items():
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(detail, dict):
            yield from _flattened(detail, path)
        else:
            yield path, detail


class InboxFull(Exception):
    """Neither PostgreSQL nor the Redis inbox took the batch: the SDK should retry later (503)."""


class BoundsError(ValueError):
    """Histogram bounds that cannot be mapped onto the standard bounds."""


class SourceError(Exception):
    """A source could not produce a number; the message says why (for logs and the UI)."""
