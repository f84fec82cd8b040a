"""Always-valid statistics for progressive rollouts.

Pure functions on plain numbers, standard library only. The decision core
(``decision.py``) calls them on every tick, so every interval here must stay
valid when it is looked at again and again: they are *confidence sequences*
(time-uniform confidence intervals), not fixed-horizon intervals.

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

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Pseudo-counts used only for the *variance* plug-in so that a segment with
#: zero events does not get a zero variance (and an infinite weight). Half an
#: event out of one extra trial is the Jeffreys-style correction.
_VARIANCE_PSEUDO_EVENTS = 0.5
_VARIANCE_PSEUDO_TRIALS = 1.0


@dataclass(frozen=True)
class Bounds:
    """A point estimate with its always-valid (1 - alpha) confidence sequence.

    ``estimate``/``lower``/``upper`` are in the unit of the quantity (a rate in
    [0, 1] for proportions, a difference of rates for contrasts).
    ``std_error`` is the plug-in standard error of ``estimate`` (informative
    only; the bounds already account for continuous monitoring).
    ``treatment_n``/``treatment_events``/``control_n``/``control_events`` are
    the counts that actually entered the estimate (control is 0/0 for a
    one-sample sequence).
    """

    estimate: float
    lower: float
    upper: float
    std_error: float
    treatment_n: int
    treatment_events: int
    control_n: int = 0
    control_events: int = 0

    @property
    def treatment_rate(self) -> float:
        return self.treatment_events / self.treatment_n if self.treatment_n else math.nan

    @property
    def control_rate(self) -> float:
        return self.control_events / self.control_n if self.control_n else math.nan


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


def _bernoulli_variance(events: float, total: float) -> float:
    """Plug-in Bernoulli variance p(1-p), shrunk slightly away from 0 and 1."""
    p = (events + _VARIANCE_PSEUDO_EVENTS) / (total + _VARIANCE_PSEUDO_TRIALS)
    return p * (1.0 - p)


def _floored_variance(events: float, total: float, rate_floor: float) -> float:
    """Plug-in variance, never below the variance at ``rate_floor``.

    With few events the plug-in variance is too small exactly when the count
    came out low (a rate observed at 0 has "variance 0"), which makes an upper
    bound too optimistic. Evaluating the variance at the rate being tested
    (score-test style: the tolerance boundary) whenever the observed rate is
    below it removes that bias where it matters.
    """
    variance = _bernoulli_variance(events, total)
    if rate_floor > 0.0:
        variance = max(variance, rate_floor * (1.0 - rate_floor))
    return variance


def proportion_cs(total: int, events: int, alpha: float, mixing_sd: float, rate_floor: float = 0.0) -> Bounds:
    """Always-valid confidence sequence for one proportion ``events / total``.

    ``rate_floor``: the variance is evaluated at no less than this rate (pass
    the rate you test against, e.g. the allowed slow fraction). Bounds are
    clipped to [0, 1]. With ``total == 0`` the interval is [0, 1].
    """
    if total < 0 or events < 0 or events > total:
        raise ValueError(f"invalid counts: events={events} total={total}")
    if total == 0:
        return Bounds(math.nan, 0.0, 1.0, math.inf, 0, 0)
    estimate = events / total
    variance = _floored_variance(events, total, rate_floor) / total
    half = mixture_half_width(variance, alpha, mixing_sd)
    return Bounds(
        estimate=estimate,
        lower=max(0.0, estimate - half),
        upper=min(1.0, estimate + half),
        std_error=math.sqrt(variance),
        treatment_n=total,
        treatment_events=events,
    )


def contrast_cs(
    segments: Sequence[tuple[int, int, int, int]],
    alpha: float,
    mixing_sd: float,
    control_multiplier: float = 1.0,
    treatment_rate_floor: float = 0.0,
) -> Bounds:
    """Always-valid confidence sequence on ``p_t - k * p_c`` (``k = control_multiplier``).

    ``segments`` is a sequence of ``(n_t, e_t, n_c, e_c)`` tuples: cumulative
    counts of trials and events per variant, one tuple per period during which
    the traffic split was constant (one per stage served since the statistical
    baseline started). ``k = 1`` gives the plain difference of rates;
    ``k = 1 + r`` tests a relative tolerance ``p_t <= (1 + r) p_c``.

    Why segments: with a constant split, ``(d_hat - d) * information`` is a
    martingale in information time, which is what the mixture boundary needs.
    Pooling counts across a change of split re-weights old residuals by the
    new split and breaks that property; combining per-segment estimates with
    inverse-variance weights keeps it (a sum of independent increments).
    The per-arm variances are estimated from all segments together (the rates
    are assumed constant across the run). Segments where either arm has no
    trials carry no information on the contrast and are skipped.

    ``treatment_rate_floor``: the treatment's variance is evaluated at no less
    than this rate. Pass the treatment rate at the boundary being tested (the
    control rate plus the tolerance): a treatment that happens to show few
    events early must not get a falsely narrow interval (see
    ``_floored_variance``); a treatment that is worse than the floor uses its
    own, larger variance.
    """
    used = [s for s in segments if s[0] > 0 and s[2] > 0]
    for n_t, e_t, n_c, e_c in segments:
        if min(n_t, e_t, n_c, e_c) < 0 or e_t > n_t or e_c > n_c:
            raise ValueError(f"invalid segment counts: {(n_t, e_t, n_c, e_c)}")
    n_t_all = sum(s[0] for s in used)
    e_t_all = sum(s[1] for s in used)
    n_c_all = sum(s[2] for s in used)
    e_c_all = sum(s[3] for s in used)
    if not used:
        return Bounds(math.nan, -math.inf, math.inf, math.inf, 0, 0, 0, 0)
    var_t = _floored_variance(e_t_all, n_t_all, treatment_rate_floor)
    var_c = _bernoulli_variance(e_c_all, n_c_all)
    k2 = control_multiplier * control_multiplier
    weighted_sum = 0.0
    information = 0.0
    for n_t, e_t, n_c, e_c in used:
        segment_variance = var_t / n_t + k2 * var_c / n_c
        weight = 1.0 / segment_variance
        weighted_sum += weight * (e_t / n_t - control_multiplier * e_c / n_c)
        information += weight
    estimate = weighted_sum / information
    variance = 1.0 / information
    half = mixture_half_width(variance, alpha, mixing_sd)
    return Bounds(
        estimate=estimate,
        lower=estimate - half,
        upper=estimate + half,
        std_error=math.sqrt(variance),
        treatment_n=n_t_all,
        treatment_events=e_t_all,
        control_n=n_c_all,
        control_events=e_c_all,
    )


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
    if len(counts) != len(bounds_ms) + 1:
        raise ValueError(
            f"histogram needs len(bounds)+1 counts (overflow bucket last): "
            f"{len(bounds_ms)} bounds, {len(counts)} counts"
        )
    if any(b2 <= b1 for b1, b2 in itertools.pairwise(bounds_ms)):
        raise ValueError("histogram bounds must be strictly increasing")
    if any(c < 0 for c in counts):
        raise ValueError("histogram counts must be non-negative")


def histogram_quantile(bounds_ms: Sequence[float], counts: Sequence[int], q: float) -> float:
    """Estimate the ``q``-quantile (0 < q < 1) from a bucketed histogram.

    Linear interpolation inside the bucket that contains the quantile (the
    first bucket starts at 0 ms). If the quantile falls in the overflow bucket
    the last bound is returned: the true value is at least that. ``nan`` when
    the histogram is empty. For display; decisions use exceedance counts.
    """
    _check_histogram(bounds_ms, counts)
    total = sum(counts)
    if total == 0:
        return math.nan
    rank = q * total
    cumulative = 0
    for i, count in enumerate(counts):
        if cumulative + count >= rank and count > 0:
            if i == len(bounds_ms):
                return float(bounds_ms[-1])
            low = bounds_ms[i - 1] if i > 0 else 0.0
            return low + (bounds_ms[i] - low) * (rank - cumulative) / count
        cumulative += count
    return float(bounds_ms[-1])


def slow_count(bounds_ms: Sequence[float], counts: Sequence[int], threshold_ms: float) -> int:
    """Requests *not known* to be at most ``threshold_ms``.

    A request is counted fast only if its whole bucket lies at or below the
    threshold; a bucket straddling the threshold counts as slow. This is the
    safe direction for a health rule (align thresholds with bucket bounds to
    make it exact). ``quantile_q <= threshold`` holds exactly when at most a
    fraction ``1 - q`` of requests is slower than the threshold.
    """
    _check_histogram(bounds_ms, counts)
    fast = sum(c for bound, c in zip(bounds_ms, counts, strict=False) if bound <= threshold_ms)
    return sum(counts) - fast
