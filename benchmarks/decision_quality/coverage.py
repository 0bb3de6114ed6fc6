"""Interval coverage: always-valid intervals at every look, Welch's at one."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from tests.stats.simulate import Bernoulli, LogNormal, Ratio, looks, time_uniform_coverage

from rampgate.stats import (
    ProportionStats,
    quantile_interval,
    quantile_test,
    rate_interval,
    sequential_test,
    welch_test,
)

from .report import Report, rate

ALPHA = 0.05


def _bounds(test: Any) -> Any:
    def interval(c: Any, t: Any) -> tuple[float, float]:
        effect = test(c, t)
        return effect.ci_low, effect.ci_high

    return interval


def run(report: Report, scale: float) -> None:
    runs = max(round(2000 * scale), 200)
    schedule = looks(20_000, 30)
    floor = 1 - ALPHA - 3 * math.sqrt(ALPHA * (1 - ALPHA) / runs)
    goal = f">= 0.95 (-3 s.e. {floor:.4f})"
    report.section(f"coverage of 95% intervals ({runs} runs, {len(schedule)} looks to 20,000/arm)")
    metrics: list[tuple[str, Any, float]] = [
        ("proportion (10%, +10%)", Bernoulli(0.1), 1.1),
        ("mean (lognormal, +5%)", LogNormal(4.0, 1.0), 1.05),
        ("ratio (cost per task, +5%)", Ratio(2.0, 0.05), 1.05),
    ]
    for index, (name, metric, factor) in enumerate(metrics):
        rng = np.random.default_rng(400 + index)
        control = metric.arms(rng, runs, schedule, 1.0)
        treatment = metric.arms(rng, runs, schedule, factor)
        truth = metric.true_value(factor) - metric.true_value(1.0)
        always, _ = time_uniform_coverage(_bounds(sequential_test), truth, control, treatment)
        peeking, last = time_uniform_coverage(_bounds(welch_test), truth, control, treatment)
        report.add(f"{name}: sequential, at every look", rate(always, runs), goal, always >= floor)
        report.add(f"{name}: Welch, at the last look only", rate(last, runs), goal, last >= floor)
        report.add(
            f"{name}: Welch, at every look (peeking)",
            rate(peeking, runs),
            "(contrast: no goal)",
            None,
        )

    latency = LogNormal(5.0, 0.8)
    sketch_runs = max(runs // 4, 100)
    sketch_floor = 1 - ALPHA - 3 * math.sqrt(ALPHA * (1 - ALPHA) / sketch_runs)
    sketch_goal = f">= 0.95 (-3 s.e. {sketch_floor:.4f})"
    sketch_schedule = looks(20_000, 15)
    truth = latency.true_quantile(0.95, 1.2) - latency.true_quantile(0.95, 1.0)
    held_difference = held_single = 0
    rng = np.random.default_rng(500)
    for start in range(0, sketch_runs, 100):
        count = min(100, sketch_runs - start)
        control = latency.sketches(rng, count, sketch_schedule, 1.0)
        treatment = latency.sketches(rng, count, sketch_schedule, 1.2)
        for c_run, t_run in zip(control, treatment, strict=True):
            held_difference += all(
                (e := quantile_test(c, t, quantile=0.95)).ci_low <= truth <= e.ci_high
                for c, t in zip(c_run, t_run, strict=True)
            )
            p95 = latency.true_quantile(0.95, 1.0)
            held_single += all(
                (i := quantile_interval(c, 0.95)).low <= p95 <= i.high for c in c_run
            )
    for name, held in (
        ("p95 difference (sketches, +20%): at every look", held_difference),
        ("p95 of one arm (sketch): at every look", held_single),
    ):
        share = held / sketch_runs
        report.add(
            f"{name} ({sketch_runs} runs)",
            rate(share, sketch_runs),
            sketch_goal,
            share >= sketch_floor,
        )

    rate_runs = runs
    held = 0
    rng = np.random.default_rng(600)
    counts = np.cumsum(
        rng.binomial(np.diff([0, *schedule]), 0.002, size=(rate_runs, len(schedule))), axis=1
    )
    for row in counts:
        held += all(
            (i := rate_interval(ProportionStats(n, int(s)))).low <= 0.002 <= i.high
            for n, s in zip(schedule, row, strict=True)
        )
    report.add(
        "rare rate (0.2%, exact bounds): at every look",
        rate(held / rate_runs, rate_runs),
        goal,
        held / rate_runs >= floor,
    )
