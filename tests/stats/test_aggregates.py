"""Aggregates: additive, exact where the data are, and honest about impossible sums."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampgate.stats import (
    CupedStats,
    MeanStats,
    ProportionStats,
    QuantileSketch,
    RatioStats,
    ReasonCode,
    SketchLayout,
    welch_test,
)

# Integer values keep every sum exact in binary floating point, so addition must be exactly
# associative; with arbitrary floats it is only associative up to rounding.
ints = st.lists(st.integers(-10_000, 10_000), max_size=30)
pairs = st.lists(st.tuples(st.integers(-1000, 1000), st.integers(0, 1000)), max_size=30)


@given(ints, ints, ints)
def test_mean_stats_add_associatively_and_match_the_union(
    a: list[int], b: list[int], c: list[int]
) -> None:
    x, y, z = (MeanStats.from_values(v) for v in (a, b, c))
    assert (x + y) + z == x + (y + z) == MeanStats.from_values(a + b + c)
    assert x + MeanStats() == x == MeanStats() + x


@given(st.lists(st.booleans()), st.lists(st.booleans()), st.lists(st.booleans()))
def test_proportion_stats_add_associatively(a: list[bool], b: list[bool], c: list[bool]) -> None:
    x, y, z = (ProportionStats.from_values(v) for v in (a, b, c))
    assert (x + y) + z == x + (y + z) == ProportionStats.from_values(a + b + c)


@given(pairs, pairs, pairs)
def test_ratio_and_cuped_stats_add_associatively(
    a: list[tuple[int, int]], b: list[tuple[int, int]], c: list[tuple[int, int]]
) -> None:
    def ratio(v: list[tuple[int, int]]) -> RatioStats:
        return RatioStats.from_values([p[0] for p in v], [p[1] for p in v])

    def adjusted(v: list[tuple[int, int]]) -> CupedStats:
        return CupedStats.from_values([p[0] for p in v], [p[1] for p in v])

    for build in (ratio, adjusted):
        x, y, z = build(a), build(b), build(c)
        assert (x + y) + z == x + (y + z) == build(a + b + c)  # type: ignore[operator]


@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), max_size=40),
    st.lists(st.floats(0, 1e6, allow_nan=False), max_size=40),
    st.lists(st.floats(0, 1e6, allow_nan=False), max_size=40),
)
def test_sketches_add_associatively_and_match_the_union(
    a: list[float], b: list[float], c: list[float]
) -> None:
    x, y, z = (QuantileSketch.from_values(v) for v in (a, b, c))
    assert (x + y) + z == x + (y + z) == QuantileSketch.from_values(a + b + c)
    assert x + QuantileSketch() == x


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=50))
def test_float_sums_agree_with_numpy(values: list[float]) -> None:
    stats = MeanStats.from_values(values)
    x = np.asarray(values)
    assert stats.mean == pytest.approx(x.mean(), rel=1e-9, abs=1e-6)
    scale = max(float(np.dot(x, x)), 1.0)
    assert stats.variance == pytest.approx(x.var(ddof=1), rel=1e-6, abs=1e-9 * scale)


def test_moments_match_numpy() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.gamma(2.0, 3.0, 500), rng.poisson(3.0, 500) + 1.0
    mean = MeanStats.from_values(x).summary()
    assert mean.mean == pytest.approx(x.mean(), rel=1e-12)
    assert mean.variance == pytest.approx(x.var(ddof=1), rel=1e-10)
    rate = ProportionStats.from_values(x > 6.0)
    assert rate.successes == int((x > 6.0).sum())
    assert rate.variance == pytest.approx(rate.mean * (1 - rate.mean))
    assert rate.as_mean().mean == rate.mean
    ratio = RatioStats.from_values(x, y)
    assert ratio.mean == pytest.approx(x.sum() / y.sum(), rel=1e-12)
    assert ratio.covariance == pytest.approx(np.cov(x, y)[0, 1], rel=1e-10)


def test_ratio_variance_is_the_variance_of_the_linearised_unit_values() -> None:
    """Delta method: Var(x/μy - μx y/μy²), computed here from the raw values instead."""
    rng = np.random.default_rng(1)
    y = rng.poisson(2.0, 2000) + 1.0
    x = y * rng.gamma(4.0, 0.25, 2000) + rng.normal(0, 0.2, 2000)
    mu_x, mu_y = x.mean(), y.mean()
    linear = x / mu_y - mu_x * y / mu_y**2
    summary = RatioStats.from_values(x, y).summary()
    assert summary.variance == pytest.approx(linear.var(ddof=1), rel=1e-9)


@pytest.mark.parametrize(
    ("stats", "reason"),
    [
        (MeanStats(10, 5.0, 1.0), ReasonCode.INVALID_AGGREGATE),  # Σx² < (Σx)²/n
        (MeanStats(10, math.nan, 1.0), ReasonCode.INVALID_AGGREGATE),
        (MeanStats(-1, 0.0, 0.0), ReasonCode.INVALID_AGGREGATE),
        (ProportionStats(10, 11), ReasonCode.INVALID_AGGREGATE),
        (ProportionStats(10, -1), ReasonCode.INVALID_AGGREGATE),
        (RatioStats(5, 1.0, 0.0, 1.0, 0.0, 0.0), ReasonCode.ZERO_DENOMINATOR),
        (RatioStats(5, 1.0, 2.0, 0.0, 1.0, 0.0), ReasonCode.INVALID_AGGREGATE),
    ],
)
def test_impossible_sums_carry_a_reason(
    stats: MeanStats | ProportionStats | RatioStats, reason: ReasonCode
) -> None:
    assert stats.summary().reason is reason
    healthy = {
        MeanStats: MeanStats.from_values([1, 2, 3, 4]),
        ProportionStats: ProportionStats(10, 3),
        RatioStats: RatioStats.from_values([1, 2, 3], [1, 1, 2]),
    }[type(stats)]
    result = welch_test(healthy, stats)
    assert result.reason is reason
    assert (result.ci_low, result.ci_high, result.p_value) == (-math.inf, math.inf, 1.0)


def test_cancellation_noise_is_not_a_negative_variance() -> None:
    values = np.full(1000, 1e6) + np.linspace(0, 1e-6, 1000)
    stats = MeanStats.from_values(values)
    assert stats.summary().reason is None
    assert stats.variance >= 0.0


def test_adding_different_kinds_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        _ = MeanStats() + ProportionStats()  # type: ignore[operator]
    coarse = QuantileSketch.from_values([1.0], SketchLayout(lowest=0.1))
    with pytest.raises(ValueError, match="layouts"):
        _ = QuantileSketch.from_values([1.0]) + coarse
