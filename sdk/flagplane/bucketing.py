"""Deterministic bucketing: the part of the contract every Flagplane SDK must reproduce exactly.

``bucket = mmh3.hash(f"{salt}:{unit}", seed=0, signed=False) % 100_000``

A split's slices are cumulative in list order; the first slice whose running total of
weights exceeds the bucket is served. See docs/bucketing.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import mmh3

BUCKET_SPACE = 100_000
"""Number of buckets; split weights are expressed in thousandths of a percent."""


def bucket(salt: str, unit: str | int) -> int:
    """Return the bucket (0..99_999) of ``unit`` for a flag bucketed with ``salt``.

    ``unit`` is the unit key: a string, or an int which is used as its decimal form.
    """
    if unit.__class__ is not str:
        normalised = unit_key(unit)
        if normalised is None:
            raise TypeError(f"unit must be str or int, not {type(unit).__name__}")
        unit = normalised
    return mmh3.hash(f"{salt}:{unit}", 0, False) % BUCKET_SPACE


def unit_key(value: object) -> str | None:
    """Normalise a context value to a unit key: str as is, int as decimal, anything else None."""
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[return-value]
    if cls is int:
        return str(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    return None


def cumulative_thresholds(weights: Sequence[int]) -> tuple[int, ...]:
    """Running totals of ``weights``; slice i is served for buckets in [total[i-1], total[i])."""
    total = 0
    out: list[int] = []
    for weight in weights:
        total += weight
        out.append(total)
    return tuple(out)
