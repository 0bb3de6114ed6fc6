"""Exact always-valid bounds on one rate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampgate.stats import ProportionStats, rate_interval
from rampgate.stats.mixture import beta_log_evalue, prior_concentration
from rampgate.stats.rates import rate_bound


def test_no_events_still_bounds_the_rate() -> None:
    interval = rate_interval(ProportionStats(5_000, 0))
    assert interval.low == 0.0
    assert 0.0 < interval.high < 0.002
    assert rate_interval(ProportionStats(5_000, 5_000)).high == 1.0
    assert rate_interval(ProportionStats()).high == 1.0


@settings(deadline=None, max_examples=60)
@given(st.integers(1, 100_000), st.floats(0.0, 1.0), st.sampled_from([0.01, 0.05, 0.1]))
def test_bounds_are_the_edges_of_the_unrejected_rates(n: int, share: float, alpha: float) -> None:
    """The inversion is consistent: just inside a bound the test does not reject, just outside it does."""
    s = round(share * n)
    r = prior_concentration(2 * alpha, 5000.0)
    low = rate_bound(s, n, alpha=alpha, upper=False)
    high = rate_bound(s, n, alpha=alpha, upper=True)
    assert low <= s / n <= high
    target = -math.log(alpha)
    mle = s / n
    if low > 0.0:
        assert beta_log_evalue(s, n, low * 0.999, r, above=True) >= target
        assert beta_log_evalue(s, n, low + 0.001 * (mle - low), r, above=True) < target
    if high < 1.0:
        assert beta_log_evalue(s, n, high + 0.001 * (1 - high), r, above=False) >= target
        assert beta_log_evalue(s, n, high - 0.001 * (high - mle), r, above=False) < target


def test_bounds_grow_with_the_count() -> None:
    lows = [rate_bound(s, 1000, alpha=0.05, upper=False) for s in range(0, 1001, 25)]
    highs = [rate_bound(s, 1000, alpha=0.05, upper=True) for s in range(0, 1001, 25)]
    assert lows == sorted(lows)
    assert highs == sorted(highs)


@pytest.mark.parametrize("p", [0.001, 0.02, 0.3])
def test_time_uniform_coverage(p: float) -> None:
    rng = np.random.default_rng(int(p * 1000))
    runs, looks, step = 300, 25, 200
    counts = np.cumsum(rng.binomial(step, p, size=(runs, looks)), axis=1)
    missed = 0
    for row in counts:
        for k, s in enumerate(row):
            interval = rate_interval(ProportionStats(step * (k + 1), int(s)))
            if not interval.low <= p <= interval.high:
                missed += 1
                break
    assert missed / runs <= 0.05
