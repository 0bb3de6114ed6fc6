"""Agreement with gbstats 0.8.0 on random aggregates (more cases than the test suite)."""

from __future__ import annotations

from collections import defaultdict

from tests.stats.oracle import FIELDS, ensure_oracle, ours, random_cases, relative_error, run_oracle

from .report import Report

# gbstats' p-value 2 * (1 - cdf) carries an absolute error of about 2 ulp of 1.
P_FLOOR = 2.0 * 2.0**-52


def run(report: Report, scale: float) -> None:
    report.section("agreement with gbstats (absolute/relative x fixed/sequential)")
    per_kind = {
        "mean": round(2500 * scale),
        "proportion": round(2500 * scale),
        "ratio": round(1000 * scale),
        "cuped": round(1000 * scale),
    }
    cases = random_cases(7, per_kind)
    answer = run_oracle(ensure_oracle(), {"cases": cases})
    worst: dict[str, float] = defaultdict(float)
    within = 0
    for case, theirs in zip(cases, answer["cases"], strict=True):
        mine = ours(case)
        ok = theirs["error"] is None and mine.ok
        for field in FIELDS:
            value, reference = getattr(mine, field), theirs[field]
            if field == "p_value":
                ok &= abs(value - reference) <= 1e-6 * reference + P_FLOOR
                if reference < 1e-8:
                    continue
            error = relative_error(value, reference)
            ok &= error <= 1e-6
            worst[case["kind"]] = max(worst[case["kind"]], error)
        within += ok
    versions = answer["versions"]
    report.add(
        f"analyses within 1e-6 of gbstats {versions['gbstats']} (numpy {versions['numpy']})",
        f"{within}/{len(cases)}",
        ">= 1,000 cases, all within",
        within == len(cases) >= 1000,
    )
    for kind, error in worst.items():
        report.add(
            f"  max relative error, {kind} ({per_kind[kind]} pairs x 4)",
            f"{error:.1e}",
            "<= 1e-6",
            error <= 1e-6,
        )
