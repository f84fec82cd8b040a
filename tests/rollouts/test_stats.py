"""Tests of the always-valid statistics (plain pytest, no database)."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from controlplane.rollouts import stats, unit_stats


def _bernoulli_count(rng: random.Random, n: int, p: float) -> int:
    return sum(1 for _ in range(n) if rng.random() < p)


def test_half_width_shrinks_as_information_grows() -> None:
    widths = [stats.mixture_half_width(0.01 / n, 0.05, 0.005) for n in (100, 1_000, 10_000, 100_000, 1_000_000)]
    assert all(later < earlier for earlier, later in itertools.pairwise(widths))
    assert widths[-1] < 0.001


def test_half_width_is_wider_than_a_fixed_horizon_interval() -> None:
    # The price of looking on every tick: wider than the 1.96-sigma interval at any n.
    for n in (100, 1_000, 100_000):
        variance = 0.01 / n
        assert stats.mixture_half_width(variance, 0.05, 0.005) > 1.96 * math.sqrt(variance)


def test_smaller_alpha_gives_wider_bounds() -> None:
    assert stats.mixture_half_width(1e-6, 0.01, 0.005) > stats.mixture_half_width(1e-6, 0.05, 0.005)


@pytest.mark.parametrize(("alpha", "tau"), [(0.0, 0.01), (1.0, 0.01), (0.05, 0.0), (0.05, -1.0)])
def test_half_width_rejects_bad_parameters(alpha: float, tau: float) -> None:
    with pytest.raises(ValueError):
        stats.mixture_half_width(1e-4, alpha, tau)


def _even(n: int, e: int, groups: int = 64) -> list[tuple[int, int]]:
    """Counts spread evenly over unit groups: independent requests from many units."""
    return [(n // groups + (g < n % groups), e // groups + (g < e % groups)) for g in range(groups)]


def _contrast(segments, alpha=0.05, mixing_sd=0.005, **kwargs) -> unit_stats.UnitBounds:
    treatment = [_even(n_t, e_t) for n_t, e_t, _, _ in segments]
    control = [_even(n_c, e_c) for _, _, n_c, e_c in segments]
    return unit_stats.contrast(treatment, control, alpha / 2, alpha / 2, mixing_sd, **kwargs)


def test_confidence_sequence_on_identical_rates_rarely_excludes_zero_even_when_peeking() -> None:
    """Coverage sanity: 200 A/A experiments, each looked at 30 times.

    The always-valid sequence may exclude 0 at *any* look in at most alpha of
    the experiments; a naive 95% z-interval looked at 30 times excludes it far
    more often (which is the bug this machinery exists to avoid).
    """
    rng = random.Random(20261125)
    experiments, looks, per_look, p = 200, 30, 100, 0.05
    cs_excluded = 0
    naive_excluded = 0
    for _ in range(experiments):
        n_t = e_t = n_c = e_c = 0
        cs_hit = naive_hit = False
        for _ in range(looks):
            n_t += per_look
            n_c += per_look
            e_t += _bernoulli_count(rng, per_look, p)
            e_c += _bernoulli_count(rng, per_look, p)
            bounds = _contrast([(n_t, e_t, n_c, e_c)], mixing_sd=0.02)
            cs_hit = cs_hit or bounds.lower > 0 or bounds.upper < 0
            naive_hit = naive_hit or abs(bounds.estimate) > 1.96 * bounds.request_std_error
        cs_excluded += cs_hit
        naive_excluded += naive_hit
    assert cs_excluded <= 0.05 * experiments
    assert naive_excluded > 2 * max(cs_excluded, 5)


def test_confidence_sequence_detects_a_real_difference() -> None:
    bounds = _contrast([(20_000, 400, 200_000, 2_000)])
    assert bounds.estimate == pytest.approx(0.01)
    assert bounds.lower > 0.005
    assert bounds.upper < 0.015
    assert bounds.treatment_rate == pytest.approx(0.02)
    assert bounds.control_rate == pytest.approx(0.01)


def test_relative_contrast_uses_the_control_multiplier() -> None:
    bounds = _contrast([(10_000, 150, 10_000, 100)], mixing_sd=0.002, control_multiplier=1.5)
    assert bounds.estimate == pytest.approx(0.015 - 1.5 * 0.01)


def test_segments_are_combined_by_inverse_variance_and_empty_arms_are_skipped() -> None:
    single = _contrast([(1_000, 20, 99_000, 990)])
    with_final_stage = _contrast([(1_000, 20, 99_000, 990), (5_000, 100, 0, 0)])
    assert with_final_stage == single  # a 100% stage has no control: no information on the contrast

    two = _contrast([(1_000, 20, 99_000, 990), (5_000, 100, 95_000, 950)])
    assert two.treatment_n == 6_000 and two.control_n == 194_000
    assert two.estimate == pytest.approx(0.01, abs=1e-9)  # both segments estimate +1 pp
    assert two.upper - two.lower < single.upper - single.lower


def test_changed_split_does_not_bias_the_stratified_estimate() -> None:
    # Same rates in both arms, but the control rate differs between periods (e.g. time of day):
    # pooling everything would show a fake difference, the per-segment contrast does not.
    segments = [(1_000, 10, 99_000, 990), (50_000, 2_500, 50_000, 2_500)]
    stratified = _contrast(segments)
    assert stratified.estimate == pytest.approx(0.0, abs=1e-12)
    pooled = _contrast([tuple(map(sum, zip(*segments, strict=True)))])
    assert pooled.estimate > 0.02


def test_no_data_gives_an_unbounded_interval() -> None:
    bounds = _contrast([(0, 0, 0, 0)])
    assert bounds.lower == -math.inf and bounds.upper == math.inf
    assert bounds.treatment_n == 0


def test_variance_floor_keeps_an_early_zero_count_from_looking_safe() -> None:
    # 0 events in 300 trials: the plug-in variance is tiny and the upper bound would claim "under 3%";
    # evaluated at the rate being tested (3%), it does not.
    assert unit_stats.proportion([_even(300, 0)], 0.025, 0.02).upper < 0.03
    assert unit_stats.proportion([_even(300, 0)], 0.025, 0.02, rate_floor=0.03).upper > 0.03
    naive = _contrast([(300, 0, 30_000, 300)])
    floored = _contrast([(300, 0, 30_000, 300)], treatment_rate_floor=0.015)
    assert floored.upper > naive.upper
    # A treatment worse than the floor keeps its own, larger variance.
    worse = _contrast([(3_000, 300, 30_000, 300)])
    assert _contrast([(3_000, 300, 30_000, 300)], treatment_rate_floor=0.015) == worse


def test_proportion_sequence_covers_the_truth() -> None:
    """Coverage over 20 looks, with the variance evaluated at the rate being tested."""
    rng = random.Random(7)
    misses = 0
    for _ in range(100):
        n = e = 0
        missed = False
        for _ in range(20):
            n += 200
            e += _bernoulli_count(rng, 200, 0.03)
            bounds = unit_stats.proportion([_even(n, e)], 0.025, 0.02, rate_floor=0.03)
            missed = missed or bounds.upper < 0.03
        misses += missed
    assert misses <= 5


BOUNDS = (50.0, 100.0, 200.0, 300.0, 500.0)


def test_histogram_quantile_interpolates_inside_the_bucket() -> None:
    counts = (50, 30, 10, 5, 4, 1)  # 100 requests
    assert stats.histogram_quantile(BOUNDS, counts, 0.5) == pytest.approx(50.0)
    assert stats.histogram_quantile(BOUNDS, counts, 0.65) == pytest.approx(75.0)
    assert stats.histogram_quantile(BOUNDS, counts, 0.95) == pytest.approx(300.0)
    assert stats.histogram_quantile(BOUNDS, counts, 0.97) == pytest.approx(400.0)
    assert stats.histogram_quantile(BOUNDS, (0, 0, 0, 0, 0, 10), 0.5) == 500.0  # overflow: at least the last bound
    assert math.isnan(stats.histogram_quantile(BOUNDS, (0,) * 6, 0.5))


def test_slow_count_counts_straddling_buckets_as_slow() -> None:
    counts = (50, 30, 10, 5, 4, 1)
    assert stats.slow_count(BOUNDS, counts, 300.0) == 5
    assert stats.slow_count(BOUNDS, counts, 250.0) == 10  # the (200, 300] bucket may hold requests over 250
    assert stats.slow_count(BOUNDS, counts, 10_000.0) == 1  # overflow is never known to be fast


def test_histogram_shape_is_checked() -> None:
    with pytest.raises(ValueError):
        stats.histogram_quantile(BOUNDS, (1, 2, 3), 0.5)
    with pytest.raises(ValueError):
        stats.slow_count((100.0, 50.0), (1, 2, 3), 75.0)
