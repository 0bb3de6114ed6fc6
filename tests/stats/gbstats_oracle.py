"""Run GrowthBook's gbstats 0.8.0 on aggregate cases: JSON on stdin, JSON on stdout.

Runs inside ``.venv-gbstats`` (see ``scripts/gbstats-venv``), never in rampgate's environment:
gbstats pins numpy<2. It imports nothing of rampgate, so the answers are gbstats' alone.

Input: ``{"cases": [...], "srm": [...], "repeat": int}``. A case is
``{"kind": "mean"|"proportion"|"ratio"|"cuped", "a": {...}, "b": {...}, "relative": bool,
"sequential": bool, "alpha": float, "tuning": float}`` with ``a`` the control's and ``b`` the
treatment's sums, named as rampgate's aggregates name them. ``repeat`` > 0 also times the
analysis of every case that many times.
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version
from typing import Any

from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from gbstats.utils import check_srm


def statistic(kind: str, arm: dict[str, Any]) -> Any:
    n = arm["n"]
    if kind == "mean":
        return SampleMeanStatistic(n=n, sum=arm["sum"], sum_squares=arm["sum_squares"])
    if kind == "proportion":
        return ProportionStatistic(n=n, sum=arm["successes"])
    if kind == "ratio":
        return RatioStatistic(
            n=n,
            m_statistic=SampleMeanStatistic(
                n=n, sum=arm["num_sum"], sum_squares=arm["num_sum_squares"]
            ),
            d_statistic=SampleMeanStatistic(
                n=n, sum=arm["den_sum"], sum_squares=arm["den_sum_squares"]
            ),
            m_d_sum_of_products=arm["sum_products"],
        )
    if kind == "cuped":
        return RegressionAdjustedStatistic(
            n=n,
            post_statistic=SampleMeanStatistic(n=n, sum=arm["sum"], sum_squares=arm["sum_squares"]),
            pre_statistic=SampleMeanStatistic(
                n=n, sum=arm["pre_sum"], sum_squares=arm["pre_sum_squares"]
            ),
            post_pre_sum_of_products=arm["sum_products"],
            theta=0,
        )
    raise ValueError(kind)


def analyse(case: dict[str, Any]) -> Any:
    kind = case["kind"]
    a, b = statistic(kind, case["a"]), statistic(kind, case["b"])
    difference_type = "relative" if case["relative"] else "absolute"
    if case["sequential"]:
        config = SequentialConfig(
            alpha=case["alpha"],
            difference_type=difference_type,
            sequential_tuning_parameter=case["tuning"],
        )
        return SequentialTwoSidedTTest(a, b, config).compute_result()
    return TwoSidedTTest(
        a, b, FrequentistConfig(alpha=case["alpha"], difference_type=difference_type)
    ).compute_result()


def main() -> None:
    request = json.load(sys.stdin)
    cases = request.get("cases", [])
    results = []
    for case in cases:
        r = analyse(case)
        results.append(
            {
                "estimate": float(r.expected),
                "ci_low": float(r.ci[0]),
                "ci_high": float(r.ci[1]),
                "p_value": float(r.p_value),
                "error": r.error_message,
            }
        )
    srm = [float(check_srm(s["users"], s["weights"])) for s in request.get("srm", [])]
    seconds = None
    repeat = int(request.get("repeat", 0))
    if repeat and cases:
        start = time.perf_counter()
        for _ in range(repeat):
            for case in cases:
                analyse(case)
        seconds = (time.perf_counter() - start) / (repeat * len(cases))
    json.dump(
        {
            "versions": {p: version(p) for p in ("gbstats", "numpy", "scipy")},
            "cases": results,
            "srm": srm,
            "seconds_per_case": seconds,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
