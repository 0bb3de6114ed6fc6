"""Agreement with GrowthBook's gbstats 0.8.0 on random aggregates, to 1e-6 relative.

10,000 comparisons: 2,500 random aggregate pairs (1,000 means, 1,000 proportions, 250 ratios, 250
CUPED-adjusted means), each analysed absolute and relative, fixed-horizon and sequential.
gbstats runs in its own virtualenv (numpy<2); see ``oracle.py``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as scipy_stats

from rampgate.stats import ReasonCode, srm_test

from .oracle import FIELDS, ours, random_cases, relative_error, run_oracle

TOLERANCE = 1e-6
# gbstats computes a p-value as 2 * (1 - cdf): exact to about 2 ulp of 1 in absolute terms only.
GBSTATS_P_FLOOR = 2.0 * 2.0**-52
PER_KIND = {"mean": 1000, "proportion": 1000, "ratio": 250, "cuped": 250}


def _case(
    kind: str, control: dict[str, Any], treatment: dict[str, Any], relative: bool
) -> dict[str, Any]:
    return {
        "kind": kind,
        "a": control,
        "b": treatment,
        "relative": relative,
        "sequential": False,
        "alpha": 0.05,
        "tuning": 5000.0,
    }


# (case, gbstats' error, rampgate's reason or None when rampgate can answer)
EDGE_CASES = [
    (
        _case(
            "mean",
            {"n": 10, "sum": 30.0, "sum_squares": 90.0},
            {"n": 10, "sum": 40.0, "sum_squares": 160.0},
            True,
        ),
        "ZERO_NEGATIVE_VARIANCE",
        ReasonCode.ZERO_VARIANCE,
    ),
    (
        _case("proportion", {"n": 100, "successes": 0}, {"n": 100, "successes": 0}, True),
        "ZERO_NEGATIVE_BASELINE_VARIATION",
        ReasonCode.ZERO_VARIANCE,
    ),
    (
        _case(
            "mean",
            {"n": 10, "sum": 0.0, "sum_squares": 9.0},
            {"n": 10, "sum": 4.0, "sum_squares": 12.0},
            True,
        ),
        "ZERO_NEGATIVE_BASELINE_VARIATION",
        ReasonCode.ZERO_BASELINE,
    ),
    # gbstats refuses when either arm has zero variance; Welch's statistic needs only one.
    (
        _case("proportion", {"n": 1000, "successes": 20}, {"n": 1000, "successes": 0}, False),
        "ZERO_NEGATIVE_VARIANCE",
        None,
    ),
]


@pytest.fixture(scope="module")
def agreement(gbstats_python: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    cases = random_cases(20240601, PER_KIND)
    srm_rng = np.random.default_rng(5)
    srm_cases = []
    for _ in range(200):
        arms = int(srm_rng.integers(2, 6))
        weights = srm_rng.dirichlet(np.ones(arms)).tolist()
        users = srm_rng.multinomial(int(srm_rng.integers(10, 100_000)), weights).tolist()
        srm_cases.append({"users": users, "weights": weights})
    edge = [case for case, _, _ in EDGE_CASES]
    # One subprocess for everything: starting gbstats (pandas, pydantic) takes seconds.
    answer = run_oracle(gbstats_python, {"cases": cases + edge, "srm": srm_cases})
    answer["edge"] = answer["cases"][len(cases) :]
    answer["cases"] = answer["cases"][: len(cases)]
    answer["srm_cases"] = srm_cases
    return cases, answer


def test_every_case_agrees_to_one_part_in_a_million(
    agreement: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    cases, answer = agreement
    assert len(cases) == 4 * sum(PER_KIND.values()) >= 4000
    worst: dict[tuple[str, str], float] = defaultdict(float)
    compared = 0
    for case, theirs in zip(cases, answer["cases"], strict=True):
        assert theirs["error"] is None, (case, theirs)
        mine = ours(case)
        assert mine.ok, (case, mine)
        variant = f"{case['kind']}/{'rel' if case['relative'] else 'abs'}/" + (
            "seq" if case["sequential"] else "fixed"
        )
        for field in FIELDS:
            value, reference = getattr(mine, field), theirs[field]
            if field == "p_value":
                assert abs(value - reference) <= TOLERANCE * reference + GBSTATS_P_FLOOR, (
                    case,
                    value,
                    reference,
                )
                if reference < 1e-8:
                    continue
            error = relative_error(value, reference)
            assert error <= TOLERANCE, (field, case, value, reference)
            worst[variant, field] = max(worst[variant, field], error)
        compared += 1
    assert compared == len(cases)
    # Every kind and design was exercised. Intervals agree to rounding: the same formulas. (The
    # p-values' worst error, near 1e-8, is gbstats' own cancellation in 1 - cdf.)
    assert len({variant for variant, _ in worst}) == 16
    assert max(error for (_, field), error in worst.items() if field != "p_value") < 1e-9


def test_sample_ratio_checks_agree(agreement: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    _, answer = agreement
    for case, theirs in zip(answer["srm_cases"], answer["srm"], strict=True):
        mine = srm_test(case["users"], case["weights"])
        ref = scipy_stats.chisquare(
            case["users"], np.asarray(case["weights"]) * sum(case["users"])
        ).pvalue
        assert mine.p_value == pytest.approx(theirs, rel=TOLERANCE, abs=1e-300)
        assert mine.p_value == pytest.approx(ref, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("index", range(len(EDGE_CASES)))
def test_edge_cases_are_refused_like_gbstats(
    agreement: tuple[list[dict[str, Any]], dict[str, Any]], index: int
) -> None:
    case, their_error, reason = EDGE_CASES[index]
    theirs = agreement[1]["edge"][index]
    assert theirs["error"] == their_error
    mine = ours(case)
    assert mine.reason is reason
    if reason is None:
        assert mine.estimate == pytest.approx(-0.02)
        assert mine.significant
    else:
        assert mine.p_value == theirs["p_value"] == 1.0
        assert math.isinf(mine.ci_low)
        assert math.isinf(mine.ci_high)
