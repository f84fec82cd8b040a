"""The rules a metrics batch must follow to be counted (docs/metrics.md, "Wire format").

``ingest_batch`` checks them on every batch it is given; the API calls the same functions while
it checks types, to report every problem at once against its field.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from controlplane.errors import ErrorCollector, join_path
from controlplane.metrics.errors import BatchError, BoundsError
from controlplane.metrics.histogram import to_standard
from flagplane.metrics import UNIT_GROUPS, WIRE_FORMAT

FORMATS = (1, WIRE_FORMAT)
"""Wire formats this server reads: 1 (no unit groups) and the SDK's current one."""

# Per entry and batch; far above any real traffic, and sums stay far from bigint overflow.
MAX_COUNT = 10**12
MAX_NUMBER = 1e18


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


def check_observations(latency_counts: Sequence[int], successes: int, errors: int) -> None:
    """Every latency observed is the latency of an outcome (a success or an error)."""
    if sum(latency_counts) > successes + errors:
        raise BatchError({"latency_ms": ["The histogram holds more observations than successes + errors."]})


def check_format(version: int, has_units: bool) -> None:
    if version not in FORMATS:
        raise BatchError({"format": [f"Unknown wire format {version}: this server reads 1 and {WIRE_FORMAT}."]})
    if version == 1 and has_units:
        raise BatchError({"format": ["Unit groups need format 2."]})


def check_unit_groups(units: dict[str, Any]) -> None:
    """The shape of an entry's ``units``: G groups, each listed group once and in order, one item
    per group in every array."""
    if units["groups"] != UNIT_GROUPS:
        raise BatchError({"groups": [f"Must be {UNIT_GROUPS} (the unit groups of wire format 2)."]})
    group = units["group"]
    if any(g < 0 or g >= UNIT_GROUPS for g in group):
        raise BatchError({"group": [f"Groups are integers from 0 to {UNIT_GROUPS - 1}."]})
    if any(later <= earlier for earlier, later in itertools.pairwise(group)):
        raise BatchError({"group": ["Must be strictly increasing (each group once)."]})
    for name in ("successes", "errors", "latency_counts"):
        if len(units[name]) != len(group):
            raise BatchError({name: [f"Must have one item per group ({len(group)}), got {len(units[name])}."]})


def _unit_groups_ok(units: dict[str, Any]) -> bool:
    check_unit_groups(units)
    return True


def unit_latencies(
    units: dict[str, Any], latency: dict[str, Any] | None, successes: int, errors: int
) -> list[list[int]]:
    """The unit groups' histograms over the standard bounds, once they are checked against their
    entry: no more signals than the entry, no more latencies than signals, the entry's bounds."""
    if sum(units["successes"]) > successes or sum(units["errors"]) > errors:
        raise BatchError({"units": ["The unit groups hold more successes or errors than the entry."]})
    if latency is None:
        raise BatchError({"units": ["Unit groups need the entry's latency_ms (for its bounds)."]})
    standard = []
    for position, counts in enumerate(units["latency_counts"]):
        group = units["group"][position]
        if sum(counts) > units["successes"][position] + units["errors"][position]:
            raise BatchError({"units": [f"Group {group}: more latencies than signals."]})
        try:
            standard.append(standard_counts(latency["bounds"], counts))
        except BatchError as exc:
            raise BatchError({"units": [f"Group {group}: {m}" for ms in exc.errors.values() for m in ms]}) from exc
    return standard


def checked_units(batch: dict[str, Any]) -> list[list[list[int]] | None]:
    """Check the batch's format and unit groups against the rules above, all problems at once.

    Returns each entry's per-group latency counts over the standard bounds (None for an entry
    without unit groups); raises ``BatchError`` keyed by dotted path (``flags.3.units.group``).
    """
    errors = ErrorCollector(BatchError)
    version = batch.get("format", 1)
    _collect(errors, "", check_format, version, any("units" in entry for entry in batch["flags"]))
    out: list[list[list[int]] | None] = []
    for index, entry in enumerate(batch["flags"]):
        units = entry.get("units")
        standard = None
        if units is not None:
            path = join_path("flags", index)
            if _collect(errors, join_path(path, "units"), _unit_groups_ok, units):
                standard = _collect(
                    errors, path, unit_latencies, units, entry.get("latency_ms"), entry["successes"], entry["errors"]
                )
        out.append(standard)
    errors.raise_if_any()
    return out


def checked_latencies(batch: dict[str, Any], now: datetime) -> list[list[int] | None]:
    """Check a batch (of the wire format's types) against every rule above, all problems at once.

    Returns each entry's latency counts over the standard bounds (None for an entry without
    latencies); raises ``BatchError`` keyed by dotted path (``period.end``, ``flags.3.latency_ms``).
    """
    errors = ErrorCollector(BatchError)
    period = batch["period"]
    _collect(errors, "period", check_period, period["start"], period["end"], now)
    latencies: list[list[int] | None] = []
    for index, entry in enumerate(batch["flags"]):
        path = join_path("flags", index)
        latency = entry.get("latency_ms")
        counts = None
        if latency is not None:
            counts = _collect(
                errors, join_path(path, "latency_ms"), standard_counts, latency["bounds"], latency["counts"]
            )
            if counts is not None:
                _collect(errors, path, check_observations, latency["counts"], entry["successes"], entry["errors"])
        latencies.append(counts)
    errors.raise_if_any()
    return latencies


def _collect(errors: ErrorCollector, prefix: str, check: Callable[..., Any], *args: Any) -> Any:
    """``check(*args)``, with the problems it raises added to ``errors`` under ``prefix``."""
    try:
        return check(*args)
    except BatchError as exc:
        for field, messages in exc.errors.items():
            for message in messages:
                errors.add(join_path(prefix, field), message)
        return None
