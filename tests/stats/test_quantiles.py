"""Quantile sketches and their always-valid intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampgate.stats import (
    QuantileSketch,
    ReasonCode,
    SketchLayout,
    quantile_interval,
    quantile_test,
)
from rampgate.stats.quantiles import rank_bounds

from .simulate import SIM_LAYOUT, LogNormal, looks

LAYOUT = SketchLayout()


@given(st.floats(0.0, 1e8, allow_nan=False))
def test_a_value_lies_in_its_bin(value: float) -> None:
    k = int(LAYOUT.index([value])[0])
    assert LAYOUT.lower_edge(k) <= max(value, 0.0) * (1 + 1e-12) + 1e-300
    assert value <= LAYOUT.upper_edge(k) * (1 + 1e-12)
    if value >= LAYOUT.lowest:
        assert abs(LAYOUT.representative(k) - value) <= LAYOUT.relative_accuracy * value * (
            1 + 1e-9
        )


def test_layout_shape_and_edges() -> None:
    layout = SketchLayout(lowest=1.0, highest=1000.0, relative_accuracy=0.05)
    assert layout.size == layout.geometric_bins + 2
    assert layout.lower_edge(0) == 0.0
    assert layout.upper_edge(layout.size - 1) == math.inf
    assert list(layout.index([-3.0, 0.5, 1.0, 5e3])) == [0, 0, 1, layout.size - 1]
    with pytest.raises(ValueError, match="lowest"):
        SketchLayout(lowest=0.0)


@settings(deadline=None, max_examples=50)
@given(
    st.lists(st.floats(1e-3, 1e6, allow_nan=False), min_size=1, max_size=300),
    st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_estimate_is_within_the_relative_accuracy_of_an_order_statistic(
    values: list[float], q: float
) -> None:
    sketch = QuantileSketch.from_values(values)
    rank = max(math.ceil(q * len(values)), 1)
    exact = sorted(values)[rank - 1]
    assert abs(sketch.estimate(q) - exact) <= 0.0101 * exact


def test_from_bins_matches_from_values() -> None:
    rng = np.random.default_rng(0)
    values = rng.lognormal(3, 1, 1000)
    bins, counts = np.unique(LAYOUT.index(values), return_counts=True)
    grouped = QuantileSketch.from_bins(dict(zip(bins.tolist(), counts.tolist(), strict=True)))
    assert grouped == QuantileSketch.from_values(values)
    assert grouped.n == 1000


def test_rank_bounds_bracket_the_quantile_rank() -> None:
    for n in (10, 100, 1000, 100_000):
        for q in (0.5, 0.95, 0.99):
            s_low, s_high = rank_bounds(n, q, 0.025, 5000.0)
            assert s_low <= q * n <= s_high + 1
    # Too few units for a p99 upper bound: it stays open.
    assert rank_bounds(50, 0.99, 0.025, 5000.0)[1] == 50


def test_interval_contains_the_estimate_and_narrows_with_data() -> None:
    rng = np.random.default_rng(1)
    widths = []
    for n in (200, 2_000, 20_000):
        sketch = QuantileSketch.from_values(rng.lognormal(5, 1, n))
        interval = quantile_interval(sketch, 0.95)
        assert interval.low <= interval.estimate <= interval.high
        widths.append(interval.high - interval.low)
    assert widths == sorted(widths, reverse=True)
    assert quantile_interval(QuantileSketch(), 0.5).high == math.inf


def test_difference_and_ratio_of_quantiles() -> None:
    rng = np.random.default_rng(2)
    control = QuantileSketch.from_values(rng.lognormal(5, 0.5, 30_000))
    treatment = QuantileSketch.from_values(1.3 * rng.lognormal(5, 0.5, 30_000))
    relative = quantile_test(control, treatment, quantile=0.5, relative=True)
    assert relative.ci_low > 0.2
    assert relative.ci_low <= relative.estimate <= relative.ci_high
    assert relative.ci_high < 0.4
    absolute = quantile_test(control, treatment, quantile=0.5)
    assert absolute.estimate == pytest.approx(0.3 * math.exp(5), rel=0.1)
    greater = quantile_test(control, treatment, quantile=0.5, alternative="greater")
    assert greater.ci_high == math.inf
    assert greater.ci_low >= absolute.ci_low  # one side spends alpha/2, not alpha/4
    assert quantile_test(QuantileSketch(), treatment, quantile=0.5).reason is ReasonCode.EMPTY_ARM
    other = QuantileSketch.from_values([1.0], SketchLayout(lowest=0.5))
    assert quantile_test(control, other, quantile=0.5).reason is ReasonCode.MISMATCHED_ARMS
    with pytest.raises(ValueError, match="quantile"):
        quantile_test(control, treatment, quantile=95)


def test_time_uniform_coverage_of_a_p95_difference() -> None:
    """Fast version: 150 runs x 8 looks; the benchmark runs the full version."""
    rng = np.random.default_rng(6)
    metric = LogNormal(5.0, 0.8)
    schedule = looks(8_000, 8)
    control = metric.sketches(rng, 150, schedule, 1.0)
    treatment = metric.sketches(rng, 150, schedule, 1.2)
    truth = metric.true_quantile(0.95, 1.2) - metric.true_quantile(0.95, 1.0)
    missed = 0
    for c_run, t_run in zip(control, treatment, strict=True):
        for c, t in zip(c_run, t_run, strict=True):
            effect = quantile_test(c, t, quantile=0.95)
            if not effect.ci_low <= truth <= effect.ci_high:
                missed += 1
                break
    assert missed / 150 <= 0.05
    assert control[0][0].layout == SIM_LAYOUT
