"""Sequential tests: the boundaries' maths, duality of intervals and p-values, and validity."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from rampgate.stats import Alternative, MeanStats, ProportionStats, sequential_test, welch_test
from rampgate.stats.mixture import (
    beta_log_evalue,
    one_sided_log_evalue,
    one_sided_radius,
    rho_squared,
    two_sided_log_evalue,
    two_sided_radius,
)
from rampgate.stats.sequential import mixture_scale


def random_arms(seed: int) -> tuple[MeanStats, MeanStats]:
    rng = np.random.default_rng(seed)
    n_c, n_t = (int(v) for v in rng.integers(10, 100_000, size=2))
    sd = rng.uniform(0.5, 5)
    se = sd * math.sqrt(1 / n_c + 1 / n_t)
    mean_t = 10 + rng.uniform(-6, 6) * se

    def arm(n: int, mean: float) -> MeanStats:
        return MeanStats(n, n * mean, (n - 1) * sd**2 + n * mean**2)

    return arm(n_c, 10.0), arm(n_t, mean_t)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("relative", [False, True])
def test_p_value_below_alpha_exactly_when_the_interval_excludes_the_null(
    alternative: Alternative, relative: bool
) -> None:
    decided = 0
    for seed in range(300):
        control, treatment = random_arms(seed)
        result = sequential_test(control, treatment, relative=relative, alternative=alternative)
        excludes = not (result.ci_low <= 0.0 <= result.ci_high)
        # Away from the boundary itself, where rounding may fall either way.
        if abs(result.p_value - result.alpha) > 1e-9:
            assert (result.p_value < result.alpha) == excludes, seed
        decided += excludes
    assert 10 < decided < 290  # the cases exercise both sides of the decision


def test_sequential_is_wider_and_more_cautious_than_fixed() -> None:
    for seed in range(50):
        control, treatment = random_arms(seed)
        fixed = welch_test(control, treatment)
        always = sequential_test(control, treatment)
        assert always.ci_high - always.ci_low > fixed.ci_high - fixed.ci_low
        assert always.p_value >= fixed.p_value
        assert always.estimate == fixed.estimate
        assert always.se == fixed.se


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.2])
@pytest.mark.parametrize("tuning", [500.0, 5000.0, 50_000.0])
def test_rho_nearly_minimises_the_two_sided_radius_at_the_tuning_sample(
    alpha: float, tuning: float
) -> None:
    """Waudby-Smith et al. eq. 161 is a closed-form approximation of the optimal mixing variance.

    At N = N* its radius is within 0.1% of the best any mixing variance achieves.
    """
    rho2 = rho_squared(alpha, tuning)
    factors = np.exp(np.linspace(math.log(0.25), math.log(4.0), 801))
    radii = [two_sided_radius(tuning * rho2 * f, alpha) for f in factors]
    best = min(radii)
    assert two_sided_radius(tuning * rho2, alpha) <= best * 1.001
    assert 0.7 < factors[int(np.argmin(radii))] < 1.4


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.25])
@pytest.mark.parametrize("a", [1e-3, 0.1, 1.0, 10.0, 1e4])
def test_radii_solve_their_e_value_equations(alpha: float, a: float) -> None:
    r2 = two_sided_radius(a, alpha)
    assert two_sided_log_evalue(r2, a) == pytest.approx(-math.log(alpha), rel=1e-12)
    r1 = one_sided_radius(a, alpha)
    assert one_sided_log_evalue(r1, a) == pytest.approx(-math.log(alpha), rel=1e-10)
    assert two_sided_radius(a, 2 * alpha) <= r1 <= r2


def test_one_sided_boundary_is_crossed_at_most_alpha_of_the_time() -> None:
    """Gaussian random walks with known variance, every step a look: Ville's bound holds."""
    rng = np.random.default_rng(11)
    runs, steps, alpha, tuning = 4000, 2000, 0.05, 500.0
    t = np.arange(1, steps + 1)
    z = np.cumsum(rng.standard_normal((runs, steps)), axis=1) / np.sqrt(t)
    a1 = t * rho_squared(2 * alpha, tuning)
    r1 = np.array([one_sided_radius(float(v), alpha) for v in a1])
    r2 = np.array([two_sided_radius(float(v), alpha) for v in t * rho_squared(alpha, tuning)])
    one_sided = float(np.mean((z >= r1).any(axis=1)))
    two_sided = float(np.mean((np.abs(z) >= r2).any(axis=1)))
    stderr = math.sqrt(alpha * (1 - alpha) / runs)
    assert one_sided <= alpha + 3 * stderr
    assert two_sided <= alpha + 3 * stderr
    # ...and the one-sided boundary is the tighter one, not a relabelled two-sided one.
    assert np.all(r1 < r2)


def test_p_value_is_the_inverse_e_value() -> None:
    control, treatment = random_arms(5)
    result = sequential_test(control, treatment, alpha=0.05, tuning=5000)
    a = mixture_scale(control.n + treatment.n, 0.05, 5000, one_sided=False)
    assert result.p_value == pytest.approx(
        min(1.0, math.exp(-two_sided_log_evalue(result.statistic, a))), rel=1e-12
    )
    greater = sequential_test(control, treatment, alternative="greater")
    less = sequential_test(control, treatment, alternative="less")
    assert greater.ci_high == math.inf
    assert less.ci_low == -math.inf
    assert min(greater.p_value, less.p_value) <= result.p_value


def test_beta_mixture_e_values_point_the_right_way() -> None:
    r = 600.0
    # 30 events in 1000 trials is evidence against a rate of 1%, not against 5%.
    assert beta_log_evalue(30, 1000, 0.01, r, above=True) > math.log(20)
    assert beta_log_evalue(30, 1000, 0.05, r, above=True) < 0
    assert beta_log_evalue(30, 1000, 0.05, r, above=False) > math.log(20)
    # ...and never against the observed rate itself.
    assert beta_log_evalue(30, 1000, 0.03, r, above=True) <= 0
    assert beta_log_evalue(30, 1000, 0.03, r, above=False) <= 0


def test_time_uniform_coverage_of_a_proportion_difference() -> None:
    """Fast version: 400 runs, 30 looks; the benchmark runs the full version."""
    rng = np.random.default_rng(3)
    runs, looks, step, p = 400, 30, 200, 0.2
    succ = np.cumsum(rng.binomial(step, p, size=(2, runs, looks)), axis=2)
    missed = 0
    for run in range(runs):
        for k in range(looks):
            n = step * (k + 1)
            result = sequential_test(
                ProportionStats(n, int(succ[0, run, k])), ProportionStats(n, int(succ[1, run, k]))
            )
            if not result.ci_low <= 0.0 <= result.ci_high:
                missed += 1
                break
    assert missed / runs <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / runs)


def test_always_valid_intervals_are_valid_at_the_last_look_too() -> None:
    """At one look the sequential interval covers at least as often as Welch's."""
    control, treatment = random_arms(9)
    fixed = welch_test(control, treatment, alpha=0.05)
    always = sequential_test(control, treatment, alpha=0.05)
    z = scipy_stats.norm.ppf(0.975)
    assert (always.ci_high - always.estimate) / always.se > z
    assert fixed.ci_low > always.ci_low
