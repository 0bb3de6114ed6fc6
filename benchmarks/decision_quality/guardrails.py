"""Guardrail decisions by simulation: false FAILs under A/A, and power at the planned sample."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tests.stats.simulate import (
    Bernoulli,
    GuardrailOutcome,
    LogNormal,
    Ratio,
    guardrail_outcome,
    looks,
)

from rampgate.stats import Baseline, Guardrail, guardrail_sample_size

from .report import Report, rate

ALPHA = 0.05
Arms = Callable[[np.random.Generator, int, list[int], float], list[list[Any]]]


@dataclass(frozen=True)
class Scenario:
    name: str
    arms: Arms
    guardrail: Guardrail
    baseline: Baseline | None  # how the sample is planned; None: no planner (quantiles)
    harmed: float  # the factor on the metric that makes the harm exactly the margin
    units: int = 0  # per arm, when there is no plan


def _lognormal_baseline(metric: LogNormal) -> Baseline:
    mean = metric.true_value(1.0)
    return Baseline(mean, mean**2 * math.expm1(metric.sigma**2))


def _ratio_baseline(metric: Ratio) -> Baseline:
    """Planned from a large historical sample, as a team would."""
    (history,) = metric.arms(np.random.default_rng(0), 1, [400_000], 1.0)
    summary = history[-1].summary()
    return Baseline(summary.mean, summary.variance)


def scenarios() -> list[Scenario]:
    latency = LogNormal(6.0, 0.8)
    cost = Ratio(2.0, 0.05)
    return [
        Scenario(
            "task success, 2 points absolute",
            Bernoulli(0.8).arms,
            Guardrail(margin=0.02, higher_is_better=True),
            Baseline.rate(0.8),
            1 - 0.02 / 0.8,
        ),
        Scenario(
            "escalation, 10% relative",
            Bernoulli(0.1).arms,
            Guardrail(margin=0.1, relative=True),
            Baseline.rate(0.1),
            1.1,
        ),
        Scenario(
            "defects (1%), 0.3 points absolute, tolerance 0.1",
            Bernoulli(0.01).arms,
            Guardrail(margin=0.003, tolerance=0.001),
            Baseline.rate(0.01),
            1.3,
        ),
        Scenario(
            "latency mean (lognormal), 5% relative",
            latency.arms,
            Guardrail(margin=0.05, relative=True),
            _lognormal_baseline(latency),
            1.05,
        ),
        Scenario(
            "cost per task (ratio), 5% relative",
            cost.arms,
            Guardrail(margin=0.05, relative=True),
            _ratio_baseline(cost),
            1.05,
        ),
        Scenario(
            "latency p95 (sketch), 15% relative",
            latency.sketches,
            Guardrail(margin=0.15, relative=True, quantile=0.95),
            None,
            1.15,
            units=25_000,
        ),
    ]


def _outcome(
    scenario: Scenario, runs: int, schedule: list[int], factor: float, seed: int
) -> GuardrailOutcome:
    """Simulated in chunks of runs, so sketches never all sit in memory at once."""
    rng = np.random.default_rng(seed)
    chunk = 250 if scenario.baseline is None else runs
    fails = passes = anytime = 0.0
    for start in range(0, runs, chunk):
        count = min(chunk, runs - start)
        control = scenario.arms(rng, count, schedule, 1.0)
        treatment = scenario.arms(rng, count, schedule, factor)
        part = guardrail_outcome(scenario.guardrail, control, treatment)
        fails += part.fail_by_end * count
        passes += part.pass_at_end * count
        anytime += part.pass_anytime * count
    return GuardrailOutcome(runs, fails / runs, passes / runs, anytime / runs)


def planned_units(scenario: Scenario) -> int:
    if scenario.baseline is None:
        return scenario.units
    return guardrail_sample_size(scenario.guardrail, scenario.baseline).control


def run(report: Report, scale: float) -> None:
    aa_runs, power_runs = max(round(5000 * scale), 200), max(round(4000 * scale), 200)
    report.section(f"A/A: false FAIL with a look at every checkpoint (alpha = {ALPHA})")
    for index, scenario in enumerate(scenarios()):
        planned = planned_units(scenario)
        runs = aa_runs if scenario.baseline is not None else max(aa_runs // 5, 200)
        schedule = looks(3 * planned, 50 if scenario.baseline is not None else 25)
        outcome = _outcome(scenario, runs, schedule, 1.0, seed=100 + index)
        bound = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / runs)
        report.add(
            f"{scenario.name} ({runs} runs, {len(schedule)} looks to {3 * planned:,}/arm)",
            rate(outcome.fail_by_end, runs),
            f"<= {ALPHA} (+3 s.e. {bound:.4f})",
            outcome.fail_by_end <= bound,
        )
    report.section("power at the planned sample (margin-sized harm -> FAIL; none -> PASS)")
    for index, scenario in enumerate(scenarios()):
        planned = planned_units(scenario)
        runs = power_runs if scenario.baseline is not None else max(power_runs // 5, 200)
        schedule = looks(planned, 20)
        harm = _outcome(scenario, runs, schedule, scenario.harmed, seed=200 + index)
        none = _outcome(scenario, runs, schedule, 1.0, seed=300 + index)
        floor = 0.8 - 3 * math.sqrt(0.16 / runs)
        planned_by = "planned" if scenario.baseline is not None else "fixed, no planner"
        judged = scenario.baseline is not None
        report.add(
            f"{scenario.name}: FAIL by {planned:,}/arm ({planned_by})",
            rate(harm.fail_by_end, runs),
            f">= 0.80 (-3 s.e. {floor:.3f})" if judged else "(information)",
            harm.fail_by_end >= floor if judged else None,
        )
        report.add(
            f"{scenario.name}: PASS at {planned:,}/arm, no harm",
            rate(none.pass_at_end, runs),
            f">= 0.80 (-3 s.e. {floor:.3f})" if judged else "(information)",
            none.pass_at_end >= floor if judged else None,
        )
        ceiling = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / runs)
        report.add(
            f"{scenario.name}: PASS at any look, margin-sized harm",
            rate(harm.pass_anytime, runs),
            f"<= {ALPHA} (+3 s.e. {ceiling:.4f})",
            harm.pass_anytime <= ceiling,
        )
