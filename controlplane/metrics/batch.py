"""A metrics batch as ``wire.read_batch`` reads it: plain values, checked, over the standard bounds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class UnitGroups:
    """An entry's signals per unit group (wire format 2), in parallel lists, one item per group."""

    group: list[int]
    successes: list[int]
    errors: list[int]
    latency_counts: list[list[int]]
    """Each group's histogram over the standard bounds."""


@dataclass(frozen=True, slots=True)
class Entry:
    flag: str
    variant: str
    evaluations: int
    successes: int
    errors: int
    latency_counts: list[int] | None
    """Over the standard bounds (``histogram.STANDARD_BOUNDS_MS``); None without ``latency_ms``."""
    latency_sum: float
    units: UnitGroups | None


@dataclass(frozen=True, slots=True)
class Batch:
    format: int
    sdk_name: str
    sdk_version: str
    batch_id: str
    """Lower case."""
    document_version: int | None
    period_start: datetime
    period_end: datetime
    """Both aware, in UTC."""
    entries: list[Entry]
    dropped: int
