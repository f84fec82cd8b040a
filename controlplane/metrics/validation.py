"""The rules a metrics batch must follow to be counted (docs/metrics.md, "Wire format").

``wire.read_batch`` calls them once the fields they read have the wire format's types; each
raises ``BatchError`` keyed by the fields it checked, which the reader nests under their object.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from controlplane.metrics.errors import BatchError, BoundsError
from controlplane.metrics.histogram import to_standard
from flagplane.metrics import UNIT_GROUPS, WIRE_FORMAT

FORMATS = (1, WIRE_FORMAT)
"""Wire formats this server reads: 1 (no unit groups) and the SDK's current one."""

# Per entry and batch; far above any real traffic, and sums stay far from bigint overflow.
MAX_COUNT = 10**12
MAX_NUMBER = 1e18

# Lengths: what ``wire`` reads and the API's schema (api/metrics.py) describes.
MAX_SDK_NAME = 100
MAX_SDK_VERSION = 50
MAX_KEY = 200
"""A flag key or a variant (the bucket tables' columns hold as much)."""
MAX_BOUNDS = 64
"""A histogram's bounds; its counts are one more (the overflow count)."""


def check_period(start: datetime, end: datetime, now: datetime) -> None:
    """A period can be counted if it ends after it starts, not in the future (beyond the allowed
    clock skew), and recently enough that a retry of it would still be recognised."""
    if end < start:
        raise BatchError({"end": ["Must not be before start."]})
    skew = timedelta(seconds=settings.METRICS_MAX_CLOCK_SKEW_SECONDS)
    if end > now + skew:
        raise BatchError(
            {"end": [f"Is more than {skew.total_seconds():g} s in the future; check the SDK host's clock."]}
        )
    hours = settings.METRICS_BATCH_RETENTION_HOURS
    if end < now - timedelta(hours=hours):
        # Older batches could no longer be recognised as retries (their ids are pruned).
        raise BatchError({"end": [f"Is older than {hours} hours; too late to count."]})


def standard_counts(bounds: Sequence[float], counts: Sequence[int]) -> list[int]:
    """The histogram's counts over the standard bounds (``histogram.to_standard``)."""
    if len(counts) != len(bounds) + 1:
        raise BatchError(
            {"counts": [f"Must have {len(bounds) + 1} entries (one per bound plus overflow), got {len(counts)}."]}
        )
    try:
        return to_standard(bounds, counts)
    except BoundsError as exc:
        raise BatchError({"bounds": [str(exc)]}) from exc


def observations_fit(observed: int, successes: int, errors: int) -> bool:
    """Every latency observed (``observed``: the histogram's total) is the latency of an outcome
    (a success or an error)."""
    return observed <= successes + errors


def check_observations(latency_counts: Sequence[int], successes: int, errors: int) -> None:
    if not observations_fit(sum(latency_counts), successes, errors):
        raise BatchError({"latency_ms": ["The histogram holds more observations than successes + errors."]})


def check_format(version: int, has_units: bool) -> None:
    if version not in FORMATS:
        raise BatchError({"format": [f"Unknown wire format {version}: this server reads 1 and {WIRE_FORMAT}."]})
    if version == 1 and has_units:
        raise BatchError({"format": ["Unit groups need format 2."]})


def groups_in_range(group: Sequence[int]) -> bool:
    return not group or (min(group) >= 0 and max(group) < UNIT_GROUPS)


def groups_in_order(group: Sequence[int]) -> bool:
    """Strictly increasing: each group listed once, in order."""
    return all(map(operator.lt, group, group[1:]))


UNIT_ARRAYS = ("successes", "errors", "latency_counts")
"""An entry's ``units`` arrays with one item per group listed."""


def check_unit_groups(units: dict[str, Any]) -> None:
    """The shape of an entry's ``units``: G groups, each listed group once and in order, one item
    per group in every array."""
    if units["groups"] != UNIT_GROUPS:
        raise BatchError({"groups": [f"Must be {UNIT_GROUPS} (the unit groups of wire format 2)."]})
    group = units["group"]
    if not groups_in_range(group):
        raise BatchError({"group": [f"Groups are integers from 0 to {UNIT_GROUPS - 1}."]})
    if not groups_in_order(group):
        raise BatchError({"group": ["Must be strictly increasing (each group once)."]})
    for name in UNIT_ARRAYS:
        if len(units[name]) != len(group):
            raise BatchError({name: [f"Must have one item per group ({len(group)}), got {len(units[name])}."]})


def groups_within_entry(units: dict[str, Any], successes: int, errors: int) -> bool:
    """The unit groups hold no more signals than their entry (some may have been served otherwise)."""
    return sum(units["successes"]) <= successes and sum(units["errors"]) <= errors


def unit_groups_fit(units: dict[str, Any], observed: Sequence[int], successes: int, errors: int) -> bool:
    """Whether ``check_unit_groups`` and ``unit_latencies`` would pass units whose histograms are
    over the standard bounds (``plain``'s fast path), given their totals (``observed``, one per
    group): the same rules, each in a few C-level calls (``observations_fit`` of every group as
    one comparison of lists), as one answer (the checks say which rule failed)."""
    group = units["group"]
    return (
        units["groups"] == UNIT_GROUPS
        and groups_in_range(group)
        and groups_in_order(group)
        and len(units["successes"]) == len(units["errors"]) == len(units["latency_counts"]) == len(group)
        and groups_within_entry(units, successes, errors)
        and all(map(operator.le, observed, map(operator.add, units["successes"], units["errors"])))
    )


def unit_latencies(
    units: dict[str, Any], latency: dict[str, Any] | None, successes: int, errors: int
) -> list[list[int]]:
    """The unit groups' histograms over the standard bounds, once they are checked against their
    entry: no more signals than the entry, no more latencies than signals, the entry's bounds."""
    if not groups_within_entry(units, successes, errors):
        raise BatchError({"units": ["The unit groups hold more successes or errors than the entry."]})
    if latency is None:
        raise BatchError({"units": ["Unit groups need the entry's latency_ms (for its bounds)."]})
    standard = []
    for group, counts, group_successes, group_errors in zip(
        units["group"], units["latency_counts"], units["successes"], units["errors"], strict=True
    ):
        if not observations_fit(sum(counts), group_successes, group_errors):
            raise BatchError({"units": [f"Group {group}: more latencies than signals."]})
        try:
            standard.append(standard_counts(latency["bounds"], counts))
        except BatchError as exc:
            raise BatchError({"units": [f"Group {group}: {m}" for ms in exc.errors.values() for m in ms]}) from exc
    return standard
