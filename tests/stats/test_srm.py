"""Sample ratio mismatch."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from rampgate.stats import ReasonCode, srm_test

from .simulate import leak_detection


@pytest.mark.parametrize("seed", range(20))
def test_matches_scipy_chisquare(seed: int) -> None:
    rng = np.random.default_rng(seed)
    arms = int(rng.integers(2, 6))
    weights = rng.dirichlet(np.ones(arms))
    observed = rng.multinomial(int(rng.integers(100, 1_000_000)), weights)
    mine = srm_test(observed.tolist(), weights.tolist())
    ref = scipy_stats.chisquare(observed, weights / weights.sum() * observed.sum())
    assert mine.statistic == pytest.approx(ref.statistic, rel=1e-9)
    assert mine.p_value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
    assert mine.dof == arms - 1


def test_a_visible_imbalance_is_flagged() -> None:
    assert srm_test([10_400, 9_600], [0.5, 0.5]).flagged
    assert not srm_test([10_040, 9_960], [0.5, 0.5]).flagged
    assert srm_test([950, 50], [0.95, 0.05]).p_value > 0.5
    assert srm_test([10_400, 9_600], [0.5, 0.5], threshold=1e-9).flagged is False


def test_units_in_an_arm_with_no_weight_are_a_leak() -> None:
    result = srm_test([500, 500, 3], [0.5, 0.5, 0.0])
    assert result.flagged
    assert result.p_value == 0.0
    assert not srm_test([500, 500, 0], [0.5, 0.5, 0.0]).flagged


def test_no_units_yet() -> None:
    result = srm_test([0, 0], [0.5, 0.5])
    assert (result.p_value, result.flagged, result.reason) == (1.0, False, ReasonCode.EMPTY_ARM)


def test_bad_configuration_raises() -> None:
    with pytest.raises(ValueError, match="weight"):
        srm_test([1, 2], [1.0])
    with pytest.raises(ValueError, match="weights"):
        srm_test([1, 2], [0.0, 0.0])
    assert srm_test([-1, 2], [0.5, 0.5]).reason is ReasonCode.INVALID_AGGREGATE


def test_a_two_percent_leak_at_20000_units_is_caught() -> None:
    """Fast version of the benchmark: 2,000 runs."""
    caught, false_alarms = leak_detection(np.random.default_rng(12), 2_000, 20_000, 0.02, 0.001)
    assert caught >= 0.95
    assert false_alarms <= 0.001 + 3 * (0.001 * 0.999 / 2_000) ** 0.5
