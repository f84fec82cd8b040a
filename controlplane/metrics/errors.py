"""What metrics ingestion and metric sources can refuse or fail with."""

from __future__ import annotations

from controlplane.errors import FieldErrors


class BatchError(FieldErrors):
    """A metrics batch that cannot be counted (its period, or a histogram); nothing of it is stored."""


class BoundsError(ValueError):
    """Histogram bounds that cannot be mapped onto the standard bounds."""


class SourceError(Exception):
    """A source could not produce a number; the message says why (for logs and the UI)."""
