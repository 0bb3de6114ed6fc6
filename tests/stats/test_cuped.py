"""CUPED against the same adjustment done on the raw values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from rampgate.stats import CupedStats, ReasonCode, cuped, sequential_test, welch_test


def units(
    rng: np.random.Generator, n: int, effect: float, corr: float
) -> tuple[np.ndarray, np.ndarray]:
    pre = rng.normal(10.0, 3.0, n)
    post = 10.0 + effect + corr * (pre - 10.0) + rng.normal(0.0, 3.0 * np.sqrt(1 - corr**2), n)
    return post, pre


@pytest.mark.parametrize("seed", range(10))
def test_equals_welch_on_the_adjusted_unit_values(seed: int) -> None:
    rng = np.random.default_rng(seed)
    (y_c, x_c), (y_t, x_t) = units(rng, 3000, 0.0, 0.7), units(rng, 2500, 0.2, 0.7)
    adjusted = cuped(CupedStats.from_values(y_c, x_c), CupedStats.from_values(y_t, x_t))
    y, x = np.concatenate([y_c, y_t]), np.concatenate([x_c, x_t])
    theta = np.cov(y, x)[0, 1] / np.var(x, ddof=1)
    assert adjusted.theta == pytest.approx(theta, rel=1e-9)
    mine = welch_test(adjusted.control, adjusted.treatment)
    ref = scipy_stats.ttest_ind(y_t - theta * x_t, y_c - theta * x_c, equal_var=False)
    assert mine.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert mine.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    # The variance reduction approaches corr² = 0.49 and the relative lift keeps the raw baseline.
    assert adjusted.variance_reduction == pytest.approx(0.49, abs=0.05)
    relative = welch_test(adjusted.control, adjusted.treatment, relative=True)
    assert relative.estimate == pytest.approx(mine.estimate / y_c.mean(), rel=1e-9)


def test_reduction_tightens_the_interval() -> None:
    rng = np.random.default_rng(42)
    (y_c, x_c), (y_t, x_t) = units(rng, 5000, 0.0, 0.9), units(rng, 5000, 0.1, 0.9)
    c, t = CupedStats.from_values(y_c, x_c), CupedStats.from_values(y_t, x_t)
    adjusted = cuped(c, t)
    raw = sequential_test(c.post, t.post)
    better = sequential_test(adjusted.control, adjusted.treatment)
    assert better.se == pytest.approx(raw.se * np.sqrt(1 - adjusted.variance_reduction), rel=1e-9)
    assert better.ci_high - better.ci_low < 0.5 * (raw.ci_high - raw.ci_low)


def test_without_a_varying_covariate_nothing_changes() -> None:
    c = CupedStats.from_values([1.0, 2.0, 4.0], [5.0, 5.0, 5.0])
    t = CupedStats.from_values([2.0, 3.0, 3.5], [5.0, 5.0, 5.0])
    adjusted = cuped(c, t)
    assert adjusted.theta == 0.0
    assert adjusted.variance_reduction == 0.0
    assert adjusted.control == c.post.summary()


def test_invalid_sums_carry_their_reason() -> None:
    bad = CupedStats(10, 5.0, 1.0, 3.0, 10.0, 2.0)
    good = CupedStats.from_values([1.0, 2.0, 3.0], [1.0, 3.0, 2.0])
    adjusted = cuped(bad, good)
    assert welch_test(adjusted.control, adjusted.treatment).reason is ReasonCode.INVALID_AGGREGATE
