"""GrowthBook spec cases: hash, getBucketRange, chooseVariation, inNamespace, getEqualWeights."""

from __future__ import annotations

from typing import Any

import pytest

from rampgate.domain.assignment import (
    choose_variation,
    get_bucket_ranges,
    get_equal_weights,
    in_namespace,
)
from rampgate.domain.hashing import gb_hash

from .spec import cases, require


@pytest.mark.parametrize("case", cases("hash", named=False))
def test_hash(case: Any) -> None:
    require(case)
    seed, value, version, expected = case
    got = gb_hash(seed, value, version)
    assert got == (None if expected is None else pytest.approx(expected, abs=1e-12))


@pytest.mark.parametrize("case", cases("getBucketRange"))
def test_get_bucket_range(case: Any) -> None:
    require(case)
    _, (n, coverage, weights), expected = case
    got = get_bucket_ranges(n, coverage, weights)
    assert [list(r) for r in got] == [pytest.approx(r, abs=1e-9) for r in expected]


@pytest.mark.parametrize("case", cases("chooseVariation"))
def test_choose_variation(case: Any) -> None:
    require(case)
    _, n, ranges, expected = case
    assert choose_variation(n, [tuple(r) for r in ranges]) == expected


@pytest.mark.parametrize("case", cases("inNamespace"))
def test_in_namespace(case: Any) -> None:
    require(case)
    _, user, (ns_id, start, end), expected = case
    assert in_namespace(user, (ns_id, start, end)) is expected


@pytest.mark.parametrize("case", cases("getEqualWeights", named=False))
def test_get_equal_weights(case: Any) -> None:
    require(case)
    n, expected = case
    assert get_equal_weights(n) == pytest.approx(expected, abs=1e-8)
