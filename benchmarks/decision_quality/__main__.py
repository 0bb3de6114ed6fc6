"""Run every decision-quality benchmark and print each figure beside its goal."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from tests.stats.oracle import OracleUnavailableError
from tests.stats.simulate import leak_detection

from benchmarks import stats_speed
from rampgate.stats import Guardrail, ProportionStats

from . import agreement, coverage, guardrails, rollouts
from .report import Report, rate


def srm(report: Report, scale: float) -> None:
    runs = max(round(20_000 * scale), 1000)
    report.section(f"sample ratio mismatch at p < 0.001 ({runs} runs of 20,000 units, 50/50)")
    caught, false_alarms = leak_detection(np.random.default_rng(700), runs, 20_000, 0.02, 0.001)
    report.add(
        "2% of units leak from treatment to control: flagged",
        rate(caught, runs),
        ">= 0.95",
        caught >= 0.95,
    )
    report.add(
        "no leak: flagged",
        rate(false_alarms, runs),
        "<= 0.001 (+3 s.e.)",
        false_alarms <= 0.001 + 3 * (0.001 / runs) ** 0.5,
    )
    weak, _ = leak_detection(np.random.default_rng(701), runs, 20_000, 0.01, 0.001)
    report.add("1% of units leak: flagged", rate(weak, runs), "(information)", None)


def speed(report: Report) -> None:
    report.section("per-metric analysis from aggregates, same run")
    for row in stats_speed.rows():
        report.add(*row)
    guard = Guardrail(margin=0.1, relative=True)
    control, treatment = ProportionStats(50_000, 5_000), ProportionStats(50_000, 5_100)
    start = time.perf_counter()
    for _ in range(2000):
        verdict = guard.evaluate(control, treatment).verdict
    per = (time.perf_counter() - start) / 2000
    report.add(
        f"guardrail verdict, relative rate ({verdict})",
        f"{per * 1e6:.1f} µs",
        "(information)",
        None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decision_quality")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every number of runs")
    parser.add_argument(
        "--only",
        choices=("stats", "rollouts"),
        help="run only the statistics checks, or only the simulated rollouts",
    )
    parser.add_argument(
        "--aa-at-server-pace",
        type=int,
        default=0,
        metavar="RUNS",
        help="also run RUNS A/A rollouts looked at every 10 s (about 15 CPU-seconds each)",
    )
    args = parser.parse_args(argv)
    report = Report()
    started = time.perf_counter()
    if args.only != "rollouts":
        try:
            agreement.run(report, args.scale)
            speed(report)
        except OracleUnavailableError as exc:
            print(f"gbstats oracle unavailable, agreement and timing skipped: {exc}")
        guardrails.run(report, args.scale)
        coverage.run(report, args.scale)
        srm(report, args.scale)
    if args.only != "stats":
        rollouts.run(report, args.scale, aa_at_server_pace=args.aa_at_server_pace)
    print(f"({time.perf_counter() - started:.0f} s)")
    return report.summary()


if __name__ == "__main__":
    sys.exit(main())
