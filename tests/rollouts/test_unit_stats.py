"""Unit-level statistics (controlplane/rollouts/unit_stats.py) on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from controlplane.rollouts import stats, unit_stats

# Four unit groups of 100 requests; the last one holds a unit that fails a lot.
CLUSTERED = [[(100, 1), (100, 1), (100, 1), (100, 9)]]


def test_random_groups_variance_of_a_rate_is_the_spread_between_groups():
    # p = 12/400 = 3%; residuals e_g - p n_g = -2, -2, -2, +6; influence = residual / 400;
    # variance = 4/3 * (3 * 0.005^2 + 0.015^2) = 4e-4, so the standard error is 2 pp.
    bounds = unit_stats.proportion(CLUSTERED, alpha_upper=0.05, mixing_sd=0.01)
    assert bounds.estimate == pytest.approx(0.03)
    assert bounds.std_error == pytest.approx(0.02)
    # Per request it would be sqrt(p(1-p)/400) with the half-event correction: 0.87 pp.
    p = 12.5 / 401
    assert bounds.request_std_error == pytest.approx(math.sqrt(p * (1 - p) / 400))
    assert bounds.design_effect == pytest.approx(4e-4 / (p * (1 - p) / 400))
    assert bounds.effective_groups[0] == pytest.approx(4.0)
    assert bounds.df == pytest.approx(3.0)
    assert bounds.basis == "units"
    assert bounds.upper == pytest.approx(0.03 + unit_stats.one_sided_half_width(4e-4, 0.05, 0.01, df=3.0))


def test_request_level_variance_is_the_floor_when_groups_agree():
    # Identical groups: no spread between them, so the per-request variance is used (no df penalty).
    bounds = unit_stats.proportion([[(1_000, 10)] * 64], alpha_upper=0.05, mixing_sd=0.005)
    assert bounds.std_error == pytest.approx(bounds.request_std_error)
    assert bounds.design_effect == 1.0
    assert math.isinf(bounds.df)


def test_contrast_adds_the_two_arms_variances_from_their_own_groups():
    # Treatment: groups (100, 1) and (100, 9): p = 5%, residuals -4, +4, influence +-0.02,
    # variance 2 * 2 * 0.02^2 = 1.6e-3. Control: identical groups, so its per-request variance.
    treatment = [[(100, 1), (100, 9)]]
    control = [[(1_000, 10), (1_000, 10)]]
    bounds = unit_stats.contrast(treatment, control, alpha_lower=0.05, alpha_upper=0.05, mixing_sd=0.01)
    p_c = 20.5 / 2_001
    control_variance = p_c * (1 - p_c) / 2_000
    assert bounds.estimate == pytest.approx(0.05 - 0.01)
    assert bounds.std_error == pytest.approx(math.sqrt(1.6e-3 + control_variance))
    assert (bounds.treatment_n, bounds.treatment_events, bounds.control_n, bounds.control_events) == (
        200,
        10,
        2_000,
        20,
    )
    # Two effective groups: one degree of freedom, so the bounds are (rightly) useless.
    assert bounds.lower < -1 and bounds.upper > 1


def test_a_unit_in_several_stages_counts_once_per_group():
    # The same failing unit (group 1) in both stages: its influence adds up within the group,
    # so the variance is larger than if the stages were independent samples.
    stage = [(1_000, 10), (1_000, 60)] + [(1_000, 10)] * 30
    control = [[(10_000, 100)] * 32, [(10_000, 100)] * 32]
    together = unit_stats.contrast([stage, stage], control, 0.05, 0.05, 0.005)
    independent = unit_stats.contrast([stage, [(1_000, 10)] * 32], control, 0.05, 0.05, 0.005)
    assert together.std_error > independent.std_error


def test_counts_without_unit_groups_are_judged_per_request_with_a_pessimistic_design_effect():
    segments = unit_stats.legacy_segments([(10_000, 100)])
    control = unit_stats.legacy_segments([(100_000, 1_000)])
    legacy = unit_stats.contrast(segments, control, 0.05, 0.05, 0.005, basis="requests")
    assert legacy.basis == "requests"
    assert legacy.std_error == pytest.approx(legacy.request_std_error * math.sqrt(unit_stats.LEGACY_DESIGN_EFFECT))
    assert legacy.design_effect == unit_stats.LEGACY_DESIGN_EFFECT


def test_one_sided_boundary_is_the_two_sided_one_at_twice_alpha():
    for variance in (1e-7, 1e-6, 1e-5):
        one_sided = unit_stats.one_sided_half_width(variance, 0.05, 0.005)
        two_sided = stats.mixture_half_width(variance, 0.10, 0.005)
        # Slightly wider: the one-sided mixture has the factor Phi(u) < 1 (Ville's bound is exact).
        assert two_sided <= one_sided <= two_sided * 1.002


def test_student_t_widening_matches_tabulated_quantiles():
    z975 = 1.959964
    assert unit_stats.t_widened(z975, 10) == pytest.approx(2.2281, abs=0.002)
    assert unit_stats.t_widened(z975, 30) == pytest.approx(2.0423, abs=0.001)
    assert unit_stats.t_widened(z975, math.inf) == z975
    # Fewer degrees of freedom, wider bounds.
    assert unit_stats.one_sided_half_width(1e-5, 0.05, 0.005, df=10) > unit_stats.one_sided_half_width(
        1e-5, 0.05, 0.005, df=60
    )


def test_one_sided_boundary_refuses_impossible_levels():
    with pytest.raises(ValueError):
        unit_stats.one_sided_half_width(1e-5, 0.5, 0.005)
    with pytest.raises(ValueError):
        unit_stats.one_sided_half_width(1e-5, 0.05, 0.0)


def test_sample_ratio_of_an_honoured_split_is_zero():
    # 1% stage: every group has 10 treatment and 990 control signals.
    result = unit_stats.sample_ratio([([10] * 64, [990] * 64)], [0.01], alpha=0.001)
    assert result.deviation == 0.0
    assert result.expected == pytest.approx(640.0)
    assert not result.mismatch


def test_sample_ratio_mismatch_when_the_treatment_loses_a_fifth_of_its_signals():
    # 5% stage, 64 groups of 20,000 signals: 1,000 treatment signals expected per group, 800 seen.
    treatment, control = [800] * 64, [19_000] * 64
    result = unit_stats.sample_ratio([(treatment, control)], [0.05], alpha=0.001)
    # expected = 0.05 * 64 * 19,800 = 63,360; observed 51,200.
    assert result.expected == pytest.approx(63_360.0)
    assert result.observed == 51_200
    assert result.deviation == pytest.approx(51_200 / 63_360 - 1)
    assert result.mismatch and result.upper < 0


def test_a_heavy_unit_in_the_treatment_is_not_a_sample_ratio_mismatch():
    # One group's treatment holds a heavy user: 3,000 extra signals. Per request that is a
    # glaring mismatch (binomial z > 30); per unit group it is one group among 64.
    treatment = [100] * 63 + [3_100]
    control = [9_900] * 64
    result = unit_stats.sample_ratio([(treatment, control)], [0.01], alpha=0.001)
    assert result.deviation > 0.4
    assert not result.mismatch
    binomial_z = (sum(treatment) - result.expected) / math.sqrt(result.total * 0.01 * 0.99)
    assert binomial_z > 30


def test_sample_ratio_skips_segments_served_at_zero_or_one_hundred_percent():
    result = unit_stats.sample_ratio([([50] * 8, [0] * 8)], [1.0], alpha=0.001)
    assert math.isnan(result.deviation) and not result.mismatch
