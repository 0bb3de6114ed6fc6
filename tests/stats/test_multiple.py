"""Holm and Benjamini-Hochberg against statsmodels."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from rampgate.stats import benjamini_hochberg, holm

p_values = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=40)


# multipletests runs a full garbage collection on every call: few examples keep this fast.
@settings(max_examples=25, deadline=None)
@given(p_values, st.sampled_from([0.01, 0.05, 0.1]))
def test_matches_statsmodels(values: list[float], alpha: float) -> None:
    for mine, method in (
        (holm(values, alpha=alpha), "holm"),
        (benjamini_hochberg(values, alpha=alpha), "fdr_bh"),
    ):
        reject, adjusted, _, _ = multipletests(values, alpha=alpha, method=method)
        assert list(mine.p_values) == pytest.approx(list(adjusted), rel=1e-12, abs=1e-15)
        assert list(mine.rejected) == list(reject)


def test_holm_is_at_least_as_strict_as_bh() -> None:
    values = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]
    assert sum(holm(values).rejected) <= sum(benjamini_hochberg(values).rejected)
    assert holm(values).rejected[0]
    assert benjamini_hochberg([0.01] * 5).rejected == (True,) * 5


def test_rejects_impossible_p_values() -> None:
    with pytest.raises(ValueError, match="p-values"):
        holm([0.5, 1.5])
