"""Health signals and evaluation counts, aggregated in memory and shipped in batches.

Wire format: docs/metrics-wire-format.md (version ``WIRE_FORMAT``). Everything here is bounded: at
most ``max_series`` (flag, variant) series are kept between flushes, and unsent batches wait for a
retry for ``max_unsent_age_s`` (15 minutes: a control-plane outage that long loses nothing at a 1-s
flush) and at most ``max_unsent`` of them; whatever does not fit is counted in ``dropped``.

Health signals of a variant served by a percentage split are also counted per *unit group*:
``unit_group(bucket)`` of the unit's bucket, so that a unit (a user) is in the same group on every
SDK instance and in every batch. The control plane judges rollouts from the spread between groups,
which stays honest when a user's requests fail (or succeed) together.
"""

from __future__ import annotations

import bisect
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from flagplane._version import __version__
from flagplane.engine import CompiledFlag

SDK_NAME = "flagplane-python"

LATENCY_BOUNDS_MS: tuple[float, ...] = (
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
)  # fmt: skip
"""Upper bounds (inclusive, ms) of the latency histogram; one overflow bucket follows."""


WIRE_FORMAT = 2
"""Version of the metrics batch format this SDK sends (1: no ``format`` field, no unit groups)."""

UNIT_GROUPS = 64
"""Number of unit groups a series is split into (part of the wire format)."""


def unit_group(bucket: int) -> int:
    """The unit group of a unit whose bucket (0..99,999, see ``bucketing``) is ``bucket``.

    ``bucket % UNIT_GROUPS`` rather than a range of buckets: every percentage split serves a range
    of buckets from 0, and the residue spreads any such range evenly over the groups.
    """
    return bucket % UNIT_GROUPS


def rfc3339(epoch_seconds: float) -> str:
    """UTC timestamp with millisecond precision and a Z suffix."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_HISTOGRAM_SIZE = len(LATENCY_BOUNDS_MS) + 1


class _Series:
    __slots__ = ("counts", "errors", "evaluations", "groups", "latency_sum", "successes")

    def __init__(self) -> None:
        self.evaluations = 0
        self.successes = 0
        self.errors = 0
        self.counts = [0] * _HISTOGRAM_SIZE
        self.latency_sum = 0.0
        # unit group -> [successes, errors, latency counts...]; only for split-served signals
        self.groups: dict[int, list[int]] = {}

    def units(self) -> dict[str, Any] | None:
        """The wire form of the per-group counts (groups in ascending order), None if none."""
        if not self.groups:
            return None
        order = sorted(self.groups)
        rows = [self.groups[g] for g in order]
        return {
            "groups": UNIT_GROUPS,
            "group": order,
            "successes": [row[0] for row in rows],
            "errors": [row[1] for row in rows],
            "latency_counts": [row[2:] for row in rows],
        }


class MetricsBuffer:
    """Per-(flag, variant) aggregation between two flushes. Thread-safe."""

    def __init__(self, max_series: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._max_series = max_series
        self._series: dict[tuple[str, str], _Series] = {}
        self._dropped = 0
        self._period_start = clock()

    def _series_for(self, flag_key: str, variant: str) -> _Series | None:
        key = (flag_key, variant)
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= self._max_series:
                return None
            series = self._series[key] = _Series()
        return series

    def record(
        self,
        flag_key: str,
        variant: str,
        ok: bool,
        latency_ms: float | None,
        bucket: int | None = None,
    ) -> None:
        """One success or error of the code path behind ``variant``, optionally with latency.

        ``bucket``: the unit's bucket when a percentage split served the variant (the signal is
        then also counted in the unit's group); None for a variant served to everyone matched.
        """
        with self._lock:
            series = self._series_for(flag_key, variant)
            if series is None:
                self._dropped += 1
                return
            if ok:
                series.successes += 1
            else:
                series.errors += 1
            slot = -1
            if latency_ms is not None:
                latency = max(0.0, float(latency_ms))
                slot = bisect.bisect_left(LATENCY_BOUNDS_MS, latency)
                series.counts[slot] += 1
                series.latency_sum += latency
            if bucket is not None:
                index = unit_group(bucket)
                group = series.groups.get(index)
                if group is None:
                    group = series.groups[index] = [0] * (2 + _HISTOGRAM_SIZE)
                group[0 if ok else 1] += 1
                if slot >= 0:
                    group[2 + slot] += 1

    def add_evaluations(self, flag_key: str, variant: str, count: int) -> None:
        with self._lock:
            series = self._series_for(flag_key, variant)
            if series is None:
                self._dropped += count
            else:
                series.evaluations += count

    def add_dropped(self, count: int) -> None:
        with self._lock:
            self._dropped += count

    def harvest(self, flags: Iterable[CompiledFlag]) -> None:
        """Move the evaluation counts the hot path accumulated on compiled flags into series."""
        for flag in flags:
            counts = flag.counts
            reported = flag.reported
            if reported is None:
                if not any(counts):
                    continue
                reported = flag.reported = [0] * len(counts)
            elif counts == reported:
                continue
            for index, count in enumerate(counts):
                delta = count - reported[index]
                if delta:
                    reported[index] = count
                    self.add_evaluations(flag.key, flag.variant_keys[index], delta)

    def drain(self, document_version: int | None = None) -> dict[str, Any] | None:
        """The batch for everything since the last drain (None if there is nothing), and reset."""
        with self._lock:
            now = self._clock()
            series, self._series = self._series, {}
            dropped, self._dropped = self._dropped, 0
            start, self._period_start = self._period_start, now
        if not series and not dropped:
            return None
        return {
            "format": WIRE_FORMAT,
            "sdk": {"name": SDK_NAME, "version": __version__},
            "batch_id": uuid.uuid4().hex,
            "document_version": document_version,
            "period": {"start": rfc3339(start), "end": rfc3339(now)},
            "flags": [_entry(flag_key, variant, s) for (flag_key, variant), s in series.items()],
            "dropped": dropped,
        }


def _entry(flag_key: str, variant: str, series: _Series) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "flag": flag_key,
        "variant": variant,
        "evaluations": series.evaluations,
        "successes": series.successes,
        "errors": series.errors,
        "latency_ms": {
            "bounds": list(LATENCY_BOUNDS_MS),
            "counts": series.counts,
            "sum": round(series.latency_sum, 3),
        },
    }
    units = series.units()
    if units is not None:
        entry["units"] = units
    return entry


def batch_size(batch: dict[str, Any]) -> int:
    """Observations in a batch (evaluations + successes + errors), for the dropped counter."""
    return sum(f["evaluations"] + f["successes"] + f["errors"] for f in batch["flags"])


class MetricsSender:
    """Sends batches in order; keeps failed ones for the next flush, bounded by age and count."""

    def __init__(
        self,
        post: Callable[[dict[str, Any]], int],
        buffer: MetricsBuffer,
        max_unsent: int = 2_000,
        max_unsent_age_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._post = post
        self._buffer = buffer
        self._max_unsent = max_unsent
        self._max_unsent_age_s = max_unsent_age_s
        self._clock = clock
        self._unsent: list[dict[str, Any]] = []
        self._queued_at: list[float] = []
        self._lock = threading.Lock()

    @property
    def unsent(self) -> int:
        return len(self._unsent)

    def enqueue(self, batch: dict[str, Any]) -> None:
        with self._lock:
            now = self._clock()
            self._unsent.append(batch)
            self._queued_at.append(now)
            while len(self._unsent) > self._max_unsent or self._too_old(now):
                lost = self._pop()
                self._buffer.add_dropped(batch_size(lost) + lost["dropped"])

    def _too_old(self, now: float) -> bool:
        return now - self._queued_at[0] > self._max_unsent_age_s

    def _pop(self) -> dict[str, Any]:
        self._queued_at.pop(0)
        return self._unsent.pop(0)

    def send_all(self) -> bool:
        """POST queued batches oldest first; stop at the first retryable failure.

        Returns True when the queue is empty afterwards. A batch the server refuses as
        malformed (4xx other than 408/429) is discarded, never retried forever.
        """
        with self._lock:
            while self._unsent:
                batch = self._unsent[0]
                try:
                    status = self._post(batch)
                except Exception:
                    return False
                if 200 <= status < 300 or (400 <= status < 500 and status not in (408, 429)):
                    self._pop()
                    continue
                return False
            return True
