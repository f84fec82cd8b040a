"""Always-valid statistics for progressive rollouts: the two-sided boundary and histograms.

Pure functions on plain numbers, standard library only (the histogram quantile
is ``metrics.histogram.quantile``, pure too). The decision core
(``rules.py``) calls them on every tick, so every interval here must stay
valid when it is looked at again and again: they are *confidence sequences*
(time-uniform confidence intervals), not fixed-horizon intervals. The
comparisons themselves (per unit, one-sided) are in ``unit_stats.py``.

Method (see docs/rollout-statistics.md for the derivation and the trade-offs):
the two-sided normal-mixture boundary of Robbins (1970), as used by the mixture
SPRT of Johari et al. ("Always valid inference", 2017/2022) and the asymptotic
confidence sequences of Waudby-Smith et al. (2021). For an estimate with
variance ``V`` and a normal mixing distribution with standard deviation ``tau``
on the effect, the half-width is::

    sqrt( V * (V + tau^2) / tau^2 * log( (V + tau^2) / (V * alpha^2) ) )

and, with probability at least ``1 - alpha``, the true value stays inside the
interval at *every* look, however many looks there are.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence

from controlplane.metrics.histogram import quantile


def mixture_half_width(variance: float, alpha: float, mixing_sd: float) -> float:
    """Half-width of the two-sided normal-mixture confidence sequence.

    ``variance`` is the variance of the estimate at this look (``1/information``),
    ``alpha`` the error probability over *all* looks together, ``mixing_sd``
    (tau) the standard deviation of the normal mixing distribution on the
    effect: the boundary is tightest when ``variance`` is roughly ``tau^2 / 8``
    (for alpha = 0.05), i.e. when the standard error is about a third of tau.
    A good default is the effect size the rule cares about (its tolerance).
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if mixing_sd <= 0.0:
        raise ValueError(f"mixing_sd must be positive, got {mixing_sd}")
    if math.isinf(variance):
        return math.inf
    if variance <= 0.0:
        return 0.0
    tau2 = mixing_sd * mixing_sd
    ratio = (variance + tau2) / variance
    return math.sqrt(variance * (variance + tau2) / tau2 * (math.log(ratio) - 2.0 * math.log(alpha)))


# --------------------------------------------------------------------------
# Latency histograms
#
# The SDK sends fixed-bucket histograms in the Prometheus "le" convention:
# ``bounds_ms`` are ascending bucket upper bounds, ``counts`` has one more
# entry than ``bounds_ms``; ``counts[i]`` requests took at most ``bounds_ms[i]``
# (and more than ``bounds_ms[i - 1]``), and ``counts[-1]`` is the overflow
# bucket (slower than the last bound).
# --------------------------------------------------------------------------


def _check_histogram(bounds_ms: Sequence[float], counts: Sequence[int]) -> None:
    _check_counts(bounds_ms, counts)
    _check_bounds(bounds_ms)


def _check_counts(bounds_ms: Sequence[float], counts: Sequence[int]) -> None:
    if len(counts) != len(bounds_ms) + 1:
        raise ValueError(
            f"histogram needs len(bounds)+1 counts (overflow bucket last): "
            f"{len(bounds_ms)} bounds, {len(counts)} counts"
        )
    if min(counts) < 0:
        raise ValueError("histogram counts must be non-negative")


def _check_bounds(bounds_ms: Sequence[float]) -> None:
    if any(b2 <= b1 for b1, b2 in itertools.pairwise(bounds_ms)):
        raise ValueError("histogram bounds must be strictly increasing")


def histogram_quantile(bounds_ms: Sequence[float], counts: Sequence[int], q: float) -> float:
    """``metrics.histogram.quantile`` of a checked histogram; ``nan`` when it is empty.

    For display; decisions use exceedance counts (``slow_count``).
    """
    _check_histogram(bounds_ms, counts)
    value = quantile(counts, q, bounds_ms)
    return math.nan if value is None else value


def slow_count(bounds_ms: Sequence[float], counts: Sequence[int], threshold_ms: float) -> int:
    """Requests *not known* to be at most ``threshold_ms``.

    A request is counted fast only if its whole bucket lies at or below the
    threshold; a bucket straddling the threshold counts as slow. This is the
    safe direction for a health rule (align thresholds with bucket bounds to
    make it exact). ``quantile_q <= threshold`` holds exactly when at most a
    fraction ``1 - q`` of requests is slower than the threshold.
    """
    return slow_counts(bounds_ms, [counts], threshold_ms)[0]


def slow_counts(bounds_ms: Sequence[float], histograms: Sequence[Sequence[int]], threshold_ms: float) -> list[int]:
    """``slow_count`` of each of ``histograms`` (all over ``bounds_ms``), the bounds checked once:
    a latency rule counts every unit group's histogram of every stage on every tick."""
    _check_bounds(bounds_ms)
    # The buckets known to be fast are a prefix (the bounds increase); a NaN threshold has none.
    fast_buckets = 0 if math.isnan(threshold_ms) else bisect.bisect_right(bounds_ms, threshold_ms)
    slow = []
    for counts in histograms:
        _check_counts(bounds_ms, counts)
        slow.append(sum(counts[fast_buckets:]))
    return slow
