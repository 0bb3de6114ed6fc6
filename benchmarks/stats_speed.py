"""Per-metric analysis from aggregates: rampgate.stats against gbstats 0.8.0, timed in one run.

Both sides start from the same JSON aggregates and build their own statistic objects, then run
the same analysis (Welch or sequential, absolute or relative) — the work a gate does per metric
per look. gbstats is timed inside ``.venv-gbstats`` by ``tests/stats/gbstats_oracle.py``.

    uv run --frozen python -m benchmarks.stats_speed
"""

from __future__ import annotations

import time
from typing import Any

from tests.stats.oracle import ensure_oracle, ours, random_cases, run_oracle

CASES_PER_KIND = {"mean": 250, "proportion": 250}
REPEAT = 5


def _time_ours(cases: list[dict[str, Any]], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for case in cases:
            ours(case)
        best = min(best, (time.perf_counter() - start) / len(cases))
    return best


def measure() -> dict[str, Any]:
    """Seconds per analysis for each side (rampgate: best of ``REPEAT`` passes)."""
    cases = random_cases(99, CASES_PER_KIND)
    python = ensure_oracle()
    theirs = run_oracle(python, {"cases": cases, "repeat": REPEAT})
    mine = _time_ours(cases, REPEAT)
    return {
        "cases": len(cases),
        "rampgate": mine,
        "gbstats": theirs["seconds_per_case"],
        "versions": theirs["versions"],
    }


def rows() -> list[tuple[str, str, str, bool]]:
    """(figure, value, goal, met) for the report."""
    m = measure()
    ratio = m["gbstats"] / m["rampgate"]
    return [
        (
            f"analysis per metric, rampgate ({m['cases']} cases)",
            f"{m['rampgate'] * 1e6:.1f} µs",
            f"<= gbstats {m['versions']['gbstats']}: {m['gbstats'] * 1e6:.1f} µs",
            m["rampgate"] <= m["gbstats"],
        ),
        ("speed-up over gbstats", f"{ratio:.1f}x", ">= 1x", ratio >= 1.0),
    ]


def main() -> None:
    for figure, value, goal, met in rows():
        print(f"{figure:<58} {value:>14}   goal {goal:<28} {'ok' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
