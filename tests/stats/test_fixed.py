"""Welch's t test on aggregates against scipy and statsmodels on the same data, to 1e-9."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats import proportion as sm_proportion
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from rampgate.stats import (
    Alternative,
    MeanStats,
    ProportionStats,
    RatioStats,
    ReasonCode,
    welch_test,
)

REL = 1e-9
SCIPY_ALTERNATIVE = {"two-sided": "two-sided", "greater": "greater", "less": "less"}
STATSMODELS_ALTERNATIVE = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}


def samples(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_c, n_t = rng.integers(3, 3000, size=2)
    scale = 10 ** rng.uniform(-2, 3)
    control = rng.lognormal(0, rng.uniform(0.2, 1.5), n_c) * scale
    treatment = rng.lognormal(rng.normal(0, 0.1), rng.uniform(0.2, 1.5), n_t) * scale
    return control, treatment


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("seed", range(40))
def test_matches_scipy_and_statsmodels_on_raw_data(seed: int, alternative: Alternative) -> None:
    control, treatment = samples(seed)
    mine = welch_test(
        MeanStats.from_values(control), MeanStats.from_values(treatment), alternative=alternative
    )
    ref = scipy_stats.ttest_ind(
        treatment, control, equal_var=False, alternative=SCIPY_ALTERNATIVE[alternative]
    )
    assert mine.statistic == pytest.approx(ref.statistic, rel=REL)
    assert mine.p_value == pytest.approx(ref.pvalue, rel=REL)
    assert mine.dof == pytest.approx(ref.df, rel=REL)
    low, high = ref.confidence_interval(0.95)
    assert (mine.ci_low, mine.ci_high) == (
        pytest.approx(low, rel=REL, abs=REL * mine.se),
        pytest.approx(high, rel=REL, abs=REL * mine.se),
    )
    compare = CompareMeans(DescrStatsW(treatment), DescrStatsW(control))
    sm_stat, sm_p, sm_dof = compare.ttest_ind(
        usevar="unequal", alternative=STATSMODELS_ALTERNATIVE[alternative]
    )
    assert (mine.statistic, mine.p_value, mine.dof) == (
        pytest.approx(sm_stat, rel=REL),
        pytest.approx(sm_p, rel=REL),
        pytest.approx(sm_dof, rel=REL),
    )
    assert mine.estimate == pytest.approx(treatment.mean() - control.mean(), rel=REL, abs=1e-12)


@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.2])
def test_confidence_level_follows_alpha(alpha: float) -> None:
    control, treatment = samples(7)
    mine = welch_test(MeanStats.from_values(control), MeanStats.from_values(treatment), alpha=alpha)
    ref = scipy_stats.ttest_ind(treatment, control, equal_var=False).confidence_interval(1 - alpha)
    assert mine.ci_low == pytest.approx(ref.low, rel=REL)
    assert mine.ci_high == pytest.approx(ref.high, rel=REL)


@pytest.mark.parametrize("seed", range(30))
def test_proportions_match_statsmodels_wald_and_scipy(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n_c, n_t = (int(v) for v in rng.integers(20, 200_000, size=2))
    p = rng.uniform(0.01, 0.99)
    s_c = int(rng.binomial(n_c, p))
    s_t = int(rng.binomial(n_t, min(p * rng.uniform(0.9, 1.1), 0.999)))
    mine = welch_test(ProportionStats(n_c, s_c), ProportionStats(n_t, s_t))
    # statsmodels' Wald test uses the same unpooled variance p(1-p)/n per arm.
    wald = sm_proportion.test_proportions_2indep(s_t, n_t, s_c, n_c, method="wald", compare="diff")
    assert mine.statistic == pytest.approx(wald.statistic, rel=REL)
    assert mine.estimate == pytest.approx(s_t / n_t - s_c / n_c, rel=REL, abs=1e-15)
    # Degrees of freedom and p-value: Welch on standard deviations √(p(1-p)), as gbstats does.
    ref = scipy_stats.ttest_ind_from_stats(
        s_t / n_t,
        math.sqrt(s_t / n_t * (1 - s_t / n_t)),
        n_t,
        s_c / n_c,
        math.sqrt(s_c / n_c * (1 - s_c / n_c)),
        n_c,
        equal_var=False,
    )
    assert mine.p_value == pytest.approx(ref.pvalue, rel=REL)


@pytest.mark.parametrize("seed", range(20))
def test_ratio_metric_is_welch_on_the_linearised_values(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    arms = []
    for lift in (1.0, rng.uniform(0.95, 1.05)):
        n = int(rng.integers(50, 5000))
        y = rng.poisson(2.0, n) + 1.0
        arms.append((y * lift * rng.gamma(4.0, 0.25, n), y))
    (x_c, y_c), (x_t, y_t) = arms
    mine = welch_test(RatioStats.from_values(x_c, y_c), RatioStats.from_values(x_t, y_t))

    def linear_sd(x: np.ndarray, y: np.ndarray) -> float:
        return float(np.std(x / y.mean() - x.mean() * y / y.mean() ** 2, ddof=1))

    ref = scipy_stats.ttest_ind_from_stats(
        x_t.sum() / y_t.sum(),
        linear_sd(x_t, y_t),
        len(x_t),
        x_c.sum() / y_c.sum(),
        linear_sd(x_c, y_c),
        len(x_c),
        equal_var=False,
    )
    assert mine.statistic == pytest.approx(ref.statistic, rel=REL)
    assert mine.p_value == pytest.approx(ref.pvalue, rel=REL)


def test_relative_lift_uses_the_delta_method() -> None:
    control, treatment = (
        MeanStats.from_values([10.0, 12.0, 9.0, 11.0]),
        MeanStats.from_values([11.0, 13.0, 12.0, 14.0]),
    )
    mine = welch_test(control, treatment, relative=True)
    m_c, m_t = control.mean, treatment.mean
    variance = treatment.variance / (m_c**2 * 4) + control.variance * m_t**2 / (m_c**4 * 4)
    assert mine.estimate == pytest.approx(m_t / m_c - 1, rel=REL)
    assert mine.se == pytest.approx(math.sqrt(variance), rel=REL)
    assert mine.dof == welch_test(control, treatment).dof


def test_null_value_shifts_the_statistic() -> None:
    control, treatment = samples(3)
    c, t = MeanStats.from_values(control), MeanStats.from_values(treatment)
    shifted = welch_test(c, t, null=0.5, alternative="greater")
    ref = scipy_stats.ttest_ind(treatment - 0.5, control, equal_var=False, alternative="greater")
    assert shifted.p_value == pytest.approx(ref.pvalue, rel=REL)


@pytest.mark.parametrize(
    ("control", "treatment", "relative", "reason"),
    [
        (MeanStats(), MeanStats.from_values([1, 2]), False, ReasonCode.EMPTY_ARM),
        (
            MeanStats.from_values([1.0]),
            MeanStats.from_values([1, 2]),
            False,
            ReasonCode.TOO_FEW_UNITS,
        ),
        (
            MeanStats.from_values([3, 3, 3]),
            MeanStats.from_values([4, 4]),
            False,
            ReasonCode.ZERO_VARIANCE,
        ),
        (ProportionStats(100, 0), ProportionStats(100, 0), False, ReasonCode.ZERO_VARIANCE),
        (
            MeanStats.from_values([-1, 1]),
            MeanStats.from_values([1, 2]),
            True,
            ReasonCode.ZERO_BASELINE,
        ),
        (ProportionStats(100, 0), ProportionStats(100, 3), True, ReasonCode.ZERO_BASELINE),
    ],
)
def test_edge_cases_return_a_reason_and_no_claim(
    control: MeanStats | ProportionStats,
    treatment: MeanStats | ProportionStats,
    relative: bool,
    reason: ReasonCode,
) -> None:
    result = welch_test(control, treatment, relative=relative)
    assert result.reason is reason
    assert not result.ok
    assert not result.significant
    assert (result.ci_low, result.ci_high, result.p_value) == (-math.inf, math.inf, 1.0)


def test_one_arm_without_variance_is_still_a_welch_test() -> None:
    """gbstats refuses this; Welch's statistic needs only one arm to vary."""
    control, treatment = ProportionStats(1000, 0), ProportionStats(1000, 30)
    result = welch_test(control, treatment)
    assert result.ok
    assert result.dof == pytest.approx(999)
    assert result.se == pytest.approx(math.sqrt(0.03 * 0.97 / 1000))


def test_configuration_errors_raise() -> None:
    stats = MeanStats.from_values([1, 2, 3])
    with pytest.raises(ValueError, match="alpha"):
        welch_test(stats, stats, alpha=0.7)
    with pytest.raises(ValueError, match="alternative"):
        welch_test(stats, stats, alternative="bigger")  # type: ignore[arg-type]
