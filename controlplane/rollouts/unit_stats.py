"""Always-valid statistics whose unit is the randomisation unit (the user), not the request.

Pure functions on plain numbers, standard library only, like ``stats.py`` next to it.

Bucketing is per unit, so each arm of a rollout is a fixed set of units and an arm's error rate
moves with *which* units landed in it: a broken client or a bot fails again and again, a few heavy
users make most requests. A variance that counts requests as independent trials mistakes that
composition noise for a regression. SDKs therefore report each (flag, variant) series split into
``G`` hash groups of the unit (``group = bucket % G``, so a unit is in the same group on every SDK
instance and in every batch); groups are independent random sets of units, and the variability
*between* groups measures the variance honestly however errors cluster within units
(random-groups / cluster-robust variance, with the delta method for the ratio).

Three pieces, all described with their parameters in docs/rollout-statistics.md:

* ``contrast``: the treatment-minus-control difference of rates, combined stage by stage, with the
  cluster-robust variance (never below the request-level one) and one-sided always-valid bounds;
  ``proportion``: the same for one arm's rate.
* ``one_sided_half_width``: the one-sided normal-mixture confidence sequence, widened for a
  variance estimated from a limited number of groups (a Student-t correction).
* ``sample_ratio``: is the treatment's share of traffic what the stages served?
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from . import stats

GroupCounts = tuple[int, int]
"""(trials, events) of one unit group."""

MIN_EFFECTIVE_GROUPS = 5.0
"""Below this many effective unit groups in an arm, a unit-level verdict is not given: the
traffic comes from too few units to say anything (the t correction would be meaningless)."""

LEGACY_DESIGN_EFFECT = 4.0
"""Variance multiplier for counts without unit groups (wire format 1): the request-level variance
times this, a deliberately pessimistic guess of how much errors cluster by unit."""

_PSEUDO_EVENTS = 0.5
_PSEUDO_TRIALS = 1.0


@dataclass(frozen=True)
class UnitBounds:
    """An estimate with its one-sided always-valid bounds and the numbers behind them.

    ``lower`` holds with probability ``1 - alpha_lower`` at every look, ``upper`` with
    ``1 - alpha_upper``. ``std_error`` is the one the bounds use (per unit when groups were
    given); ``request_std_error`` is what counting requests as independent trials would give.
    ``design_effect`` is their ratio squared for the treatment arm (1 = no clustering).
    ``effective_groups`` (treatment, control) is the Kish effective number of unit groups;
    ``df`` the degrees of freedom of the variance (inf when it is the request-level one).
    ``basis`` is ``"units"`` or ``"requests"`` (no unit groups: request level, inflated by
    ``LEGACY_DESIGN_EFFECT``).
    """

    estimate: float
    lower: float
    upper: float
    std_error: float
    request_std_error: float
    design_effect: float
    effective_groups: tuple[float, float]
    df: float
    basis: str
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


# ---------------------------------------------------------------------------
# The boundary
# ---------------------------------------------------------------------------


def _normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def t_widened(z: float, df: float) -> float:
    """The Student-t quantile with ``df`` degrees of freedom at the normal tail of ``z``.

    Cornish-Fisher expansion to order 1/df^3 (Abramowitz & Stegun 26.7.5): within 1% of the
    exact quantile for df >= 5 and z <= 4. Below 5 degrees of freedom the exact quantile for 2
    (``(2q - 1) / sqrt(2q(1 - q))``), which is larger than the one for any df >= 2.
    """
    if math.isinf(df):
        return z
    if df < 5.0:
        upper_tail = max(0.5 * math.erfc(z / math.sqrt(2.0)), 1e-300)
        return (1.0 - 2.0 * upper_tail) / math.sqrt(2.0 * upper_tail * (1.0 - upper_tail))
    z2 = z * z
    return (
        z
        + (z2 + 1.0) * z / (4.0 * df)
        + ((5.0 * z2 + 16.0) * z2 + 3.0) * z / (96.0 * df * df)
        + (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / (384.0 * df**3)
    )


def one_sided_half_width(variance: float, alpha: float, mixing_sd: float, df: float = math.inf) -> float:
    """Half-width of the one-sided normal-mixture confidence sequence at level ``alpha``.

    With a half-normal mixing distribution (sd ``tau`` = ``mixing_sd``) over positive effects,
    the mixture likelihood ratio of Gaussian increments is
    ``2 / sqrt(1 + tau^2 I) * exp(u^2 / 2) * Phi(u)`` with information ``I = 1 / variance`` and
    ``u`` the score in units of its mixture scale; by Ville's inequality it ever exceeds
    ``1 / alpha`` with probability at most ``alpha``. Solving for ``u`` gives the boundary
    ``u * sqrt(variance * (variance + tau^2) / tau^2)``: essentially the two-sided boundary of
    ``stats.mixture_half_width`` at ``2 * alpha``. ``df`` (degrees of freedom of ``variance``)
    widens the boundary from normal to Student-t quantiles.
    """
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if mixing_sd <= 0.0:
        raise ValueError(f"mixing_sd must be positive, got {mixing_sd}")
    if math.isinf(variance):
        return math.inf
    if variance <= 0.0:
        return 0.0
    tau2 = mixing_sd * mixing_sd
    target = -math.log(alpha) + 0.5 * math.log((variance + tau2) / variance) - math.log(2.0)
    scale = math.sqrt(variance * (variance + tau2) / tau2)
    u = stats.mixture_half_width(variance, 2.0 * alpha, mixing_sd) / scale  # the answer without Phi(u)
    for _ in range(6):  # fixed point of u^2/2 + log Phi(u) = target; log Phi(u) is tiny here
        u = math.sqrt(2.0 * (target - math.log(_normal_cdf(u))))
    z = u * scale / math.sqrt(variance)
    return t_widened(z, df) * math.sqrt(variance)


# ---------------------------------------------------------------------------
# One arm, linearised
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Arm:
    """One arm's contribution to a weighted sum of per-segment rates ``sum_i w_i * e_i / n_i``."""

    estimate: float
    cluster_variance: float  # between unit groups; nan without groups
    request_variance: float  # Bernoulli at the plug-in rate (per request)
    floored_variance: float  # Bernoulli at max(plug-in, floor)
    effective_groups: float  # Kish: groups of equal weight the arm's traffic is worth
    df: float  # degrees of freedom of cluster_variance
    trials: int
    events: int


def _bernoulli(events: float, trials: float) -> float:
    p = (events + _PSEUDO_EVENTS) / (trials + _PSEUDO_TRIALS)
    return p * (1.0 - p)


def _arm(segments: Sequence[Sequence[GroupCounts]], weights: Sequence[float], rate_floor: float) -> _Arm:
    """``segments[i][g]`` = (trials, events) of group g in segment i; ``weights`` sum to 1.

    The delta method for each segment's ratio ``e_i / n_i`` gives group g the influence
    ``sum_i w_i (e_ig - p_i n_ig) / n_i``: a unit's requests in every segment land in the same
    group, so its persistence across stages is accounted for. The random-groups variance is
    ``G / (G - 1) * sum_g influence_g^2`` over the G groups that had any traffic.
    """
    totals = [(sum(t for t, _ in groups), sum(e for _, e in groups)) for groups in segments]
    trials = sum(t for t, _ in totals)
    events = sum(e for _, e in totals)
    bernoulli = _bernoulli(events, trials)
    floored = max(bernoulli, rate_floor * (1.0 - rate_floor)) if rate_floor > 0 else bernoulli
    estimate = request_part = 0.0
    size = max((len(groups) for groups in segments), default=0)
    influence = [0.0] * size
    share = [0.0] * size
    for groups, weight, (n, e) in zip(segments, weights, totals, strict=True):
        if n <= 0 or weight == 0.0:
            continue
        rate = e / n
        estimate += weight * rate
        request_part += weight * weight / n
        for g, (n_g, e_g) in enumerate(groups):
            if n_g:
                influence[g] += weight * (e_g - rate * n_g) / n
                share[g] += weight * n_g / n
    used = [g for g in range(size) if share[g] > 0.0]
    if len(used) >= 2:
        cluster = len(used) / (len(used) - 1) * sum(influence[g] ** 2 for g in used)
        effective = 1.0 / sum(share[g] ** 2 for g in used) * sum(share) ** 2
        df = min(effective, _influence_df([influence[g] for g in used])) - 1.0
    else:
        cluster, effective, df = math.nan, float(len(used)), 0.0
    return _Arm(estimate, cluster, bernoulli * request_part, floored * request_part, effective, df, trials, events)


def _influence_df(influence: Sequence[float]) -> float:
    """Groups' worth of information in the between-group variance (plus one).

    Satterthwaite's ``(sum x^2)^2 / sum x^4`` of the influences, times 3 (the fourth moment of a
    normal influence), so that G equal-sized groups of independent requests count as G; a few
    groups whose units dominate (a broken heavy user) count as about as many as they are.
    """
    second = sum(x * x for x in influence)
    fourth = sum(x**4 for x in influence)
    return 3.0 * second * second / fourth if fourth > 0 else float(len(influence))


def _segment_weights(
    treatment: Sequence[Sequence[GroupCounts]], control: Sequence[Sequence[GroupCounts]], multiplier: float
) -> list[float]:
    """Inverse request-level variance weights per segment (as ``stats.contrast_cs``), summing to 1."""
    n_t = [sum(t for t, _ in groups) for groups in treatment]
    n_c = [sum(t for t, _ in groups) for groups in control]
    var_t = _bernoulli(sum(e for groups in treatment for _, e in groups), sum(n_t))
    var_c = _bernoulli(sum(e for groups in control for _, e in groups), sum(n_c))
    raw = [
        1.0 / (var_t / a + multiplier * multiplier * var_c / b) if a > 0 and b > 0 else 0.0
        for a, b in zip(n_t, n_c, strict=True)
    ]
    total = sum(raw)
    return [w / total for w in raw] if total > 0 else raw


def _arm_variance(
    arm: _Arm, basis: str, floored: bool, deff: float = 1.0, deff_df: float = math.inf
) -> tuple[float, float]:
    """(variance, degrees of freedom) of one arm: the between-group variance, or the
    request-level one if larger. When the floor is what sets the request-level variance (the
    arm's own rate came out below the rate being tested), that variance is the one *at* the
    tested rate and is scaled by ``deff`` (estimated with ``deff_df`` degrees of freedom): the
    clustering the arm would show there, which its own few events cannot tell."""
    at_floor = floored and arm.floored_variance > arm.request_variance
    request = arm.floored_variance if at_floor else arm.request_variance
    if basis == "requests":
        return request * LEGACY_DESIGN_EFFECT, math.inf
    scaled = request * deff if at_floor else request
    if arm.cluster_variance >= scaled:
        return arm.cluster_variance, _df(arm)
    return scaled, deff_df if at_floor and deff > 1.0 else math.inf


def _df(arm: _Arm) -> float:
    return max(arm.df, 1.0)


def _welch_df(parts: Sequence[tuple[float, float]]) -> float:
    total = sum(v for v, _ in parts)
    denominator = sum(v * v / df for v, df in parts if not math.isinf(df))
    return total * total / denominator if denominator > 0 else math.inf


def contrast(
    treatment: Sequence[Sequence[GroupCounts]],
    control: Sequence[Sequence[GroupCounts]],
    alpha_lower: float,
    alpha_upper: float,
    mixing_sd: float,
    control_multiplier: float = 1.0,
    treatment_rate_floor: float = 0.0,
    basis: str = "units",
) -> UnitBounds:
    """Always-valid one-sided bounds on ``p_t - k * p_c`` (``k = control_multiplier``).

    ``treatment[i]`` / ``control[i]``: the (trials, events) per unit group in segment i (one
    segment per stage served in the run). With ``basis="requests"`` each segment is a single
    group (counts from SDKs that send no unit groups) and the request-level variance is inflated
    by ``LEGACY_DESIGN_EFFECT``. Segments where an arm has no trials are skipped.

    Variance per arm: the larger of the between-group (cluster-robust) variance and the
    request-level Bernoulli variance; the treatment's Bernoulli variance is evaluated at no less
    than ``treatment_rate_floor`` (the rate at the tolerance boundary, as in ``stats``) and
    scaled by the control's design effect (the clustering the treatment would show at that rate).
    """
    pairs = [
        (t, c) for t, c in zip(treatment, control, strict=True) if sum(n for n, _ in t) > 0 and sum(n for n, _ in c) > 0
    ]
    if not pairs:
        nan = math.nan
        return UnitBounds(nan, -math.inf, math.inf, math.inf, math.inf, nan, (0.0, 0.0), nan, basis, 0, 0)
    t_segments = [t for t, _ in pairs]
    c_segments = [c for _, c in pairs]
    weights = _segment_weights(t_segments, c_segments, control_multiplier)
    arm_t = _arm(t_segments, weights, treatment_rate_floor)
    arm_c = _arm(c_segments, weights, 0.0)
    k2 = control_multiplier * control_multiplier
    deff_c = _design_effect(arm_c) if basis == "units" else 1.0
    var_t, df_t = _arm_variance(arm_t, basis, floored=True, deff=deff_c, deff_df=_df(arm_c))
    var_c, df_c = _arm_variance(arm_c, basis, floored=False)
    var_c, request_c = var_c * k2, arm_c.request_variance * k2
    variance = var_t + var_c
    df = _welch_df([(var_t, df_t), (var_c, df_c)])
    estimate = arm_t.estimate - control_multiplier * arm_c.estimate
    return UnitBounds(
        estimate=estimate,
        lower=estimate - one_sided_half_width(variance, alpha_lower, mixing_sd, df),
        upper=estimate + one_sided_half_width(variance, alpha_upper, mixing_sd, df),
        std_error=math.sqrt(variance),
        request_std_error=math.sqrt(arm_t.request_variance + request_c),
        design_effect=_design_effect(arm_t) if basis == "units" else LEGACY_DESIGN_EFFECT,
        effective_groups=(arm_t.effective_groups, arm_c.effective_groups),
        df=df,
        basis=basis,
        treatment_n=arm_t.trials,
        treatment_events=arm_t.events,
        control_n=arm_c.trials,
        control_events=arm_c.events,
    )


def proportion(
    segments: Sequence[Sequence[GroupCounts]],
    alpha_upper: float,
    mixing_sd: float,
    rate_floor: float = 0.0,
    design_effect: float = 1.0,
    basis: str = "units",
) -> UnitBounds:
    """Always-valid upper bound on one arm's pooled rate (segments weighted by their trials).

    The Bernoulli variance is evaluated at no less than ``rate_floor`` and scaled by
    ``design_effect`` (e.g. the control arm's, as ``contrast`` does); the bound uses the larger
    of that and the between-group variance. Only the upper bound is computed (``lower`` = -inf).
    """
    used = [s for s in segments if sum(n for n, _ in s) > 0]
    trials = sum(n for s in used for n, _ in s)
    if not trials:
        nan = math.nan
        return UnitBounds(nan, -math.inf, math.inf, math.inf, math.inf, nan, (0.0, 0.0), nan, basis, 0, 0)
    weights = [sum(n for n, _ in s) / trials for s in used]
    arm = _arm(used, weights, rate_floor)
    variance, df = _arm_variance(arm, basis, floored=True, deff=max(1.0, design_effect))
    return UnitBounds(
        estimate=arm.estimate,
        lower=-math.inf,
        upper=arm.estimate + one_sided_half_width(variance, alpha_upper, mixing_sd, df),
        std_error=math.sqrt(variance),
        request_std_error=math.sqrt(arm.request_variance),
        design_effect=_design_effect(arm) if basis == "units" else LEGACY_DESIGN_EFFECT,
        effective_groups=(arm.effective_groups, 0.0),
        df=df,
        basis=basis,
        treatment_n=arm.trials,
        treatment_events=arm.events,
    )


def _design_effect(arm: _Arm) -> float:
    """Cluster-robust over request-level variance, never below 1 (nan without groups)."""
    if math.isnan(arm.cluster_variance) or arm.request_variance <= 0:
        return 1.0
    return max(1.0, arm.cluster_variance / arm.request_variance)


def legacy_segments(segments: Sequence[tuple[int, int]]) -> list[list[GroupCounts]]:
    """Counts without unit groups as one-group segments, for ``basis="requests"``."""
    return [[(n, e)] for n, e in segments]


# ---------------------------------------------------------------------------
# Sample ratio
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleRatio:
    """The treatment's share of traffic against what the stages served.

    ``deviation`` is ``observed / expected - 1`` for the treatment's trials (-0.05: 5% fewer than
    the split says), with always-valid two-sided bounds ``lower``/``upper`` at level ``alpha``.
    ``expected`` and ``observed`` are the treatment trials the split predicts and the ones seen.
    """

    deviation: float
    lower: float
    upper: float
    expected: float
    observed: int
    total: int
    effective_groups: float

    @property
    def mismatch(self) -> bool:
        return self.lower > 0.0 or self.upper < 0.0


def sample_ratio(
    segments: Sequence[tuple[Sequence[int], Sequence[int]]],
    shares: Sequence[float],
    alpha: float,
    mixing_sd: float = 0.05,
) -> SampleRatio:
    """Is the treatment's share what the split served? ``segments[i]`` = (treatment trials per
    unit group, control trials per unit group) in segment i, served with treatment share
    ``shares[i]`` (0..1; segments served at 0 or 1 carry no information and are skipped).

    Per group, ``r_g = sum_i (t_ig - share_i (t_ig + c_ig))`` has mean zero when the split is
    honoured, whatever the units' activity; the deviation is ``sum r_g / expected`` and its
    variance comes from the groups (delta method), never below the binomial variance of the
    split. Two-sided: each side at ``alpha / 2``.
    """
    size = max((len(t) for t, _ in segments), default=0)
    residual = [0.0] * size
    expected_g = [0.0] * size
    expected = observed_total = total = 0.0
    binomial = 0.0
    for (t_groups, c_groups), share in zip(segments, shares, strict=True):
        if not 0.0 < share < 1.0:
            continue
        for g, (t, c) in enumerate(zip(t_groups, c_groups, strict=True)):
            residual[g] += t - share * (t + c)
            expected_g[g] += share * (t + c)
        n = sum(t_groups) + sum(c_groups)
        expected += share * n
        observed_total += sum(t_groups)
        total += n
        binomial += n * share * (1.0 - share)
    if expected <= 0:
        return SampleRatio(math.nan, -math.inf, math.inf, 0.0, 0, 0, 0.0)
    deviation = sum(residual) / expected
    used = [g for g in range(size) if expected_g[g] > 0]
    influence = [(residual[g] - deviation * expected_g[g]) / expected for g in used]
    variance = binomial / (expected * expected)
    df = math.inf
    effective = float(len(used))
    if len(used) >= 2:
        effective = expected * expected / sum(expected_g[g] ** 2 for g in used)
        cluster = len(used) / (len(used) - 1) * sum(x * x for x in influence)
        if cluster > variance:
            variance, df = cluster, max(min(effective, _influence_df(influence)) - 1.0, 1.0)
    half = one_sided_half_width(variance, alpha / 2.0, mixing_sd, df)
    return SampleRatio(
        deviation=deviation,
        lower=deviation - half,
        upper=deviation + half,
        expected=expected,
        observed=int(observed_total),
        total=int(total),
        effective_groups=effective,
    )
