"""Decision quality by simulation, fast versions (fixed seeds, Monte Carlo tolerances of 3 s.e.).

The full versions, with more runs and scenarios, are ``python -m benchmarks.decision_quality``.
Every verdict and interval comes from the public API, one call per run and look.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np
import pytest

from rampgate.stats import (
    Baseline,
    Guardrail,
    guardrail_sample_size,
    sequential_test,
    welch_test,
)

from .simulate import (
    Bernoulli,
    LogNormal,
    Metric,
    Ratio,
    guardrail_outcome,
    looks,
    time_uniform_coverage,
)

pytestmark = pytest.mark.slow

ALPHA = 0.05


def seed(name: str) -> int:
    # str hashes change from process to process; a checksum keeps the runs reproducible.
    return zlib.crc32(name.encode())


def slack(rate: float, runs: int) -> float:
    return 3 * math.sqrt(rate * (1 - rate) / runs)


def lognormal_baseline(metric: LogNormal) -> Baseline:
    mean = metric.true_value(1.0)
    return Baseline(mean, mean**2 * math.expm1(metric.sigma**2))


SCENARIOS: list[tuple[str, Metric, Guardrail, Baseline, float]] = [
    # name, metric, guardrail, planning baseline, factor that makes the harm exactly the margin
    (
        "task success, 2 points absolute",
        Bernoulli(0.8),
        Guardrail(margin=0.02, higher_is_better=True),
        Baseline.rate(0.8),
        1 - 0.02 / 0.8,
    ),
    (
        "escalation, 10% relative",
        Bernoulli(0.1),
        Guardrail(margin=0.1, relative=True),
        Baseline.rate(0.1),
        1.1,
    ),
    (
        "latency mean, 5% relative",
        LogNormal(6.0, 0.8),
        Guardrail(margin=0.05, relative=True),
        lognormal_baseline(LogNormal(6.0, 0.8)),
        1.05,
    ),
]


@pytest.mark.parametrize(
    ("name", "metric", "guard", "baseline", "_"), SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
def test_a_a_false_fail_rate_with_a_look_at_every_checkpoint(
    name: str, metric: Metric, guard: Guardrail, baseline: Baseline, _: float
) -> None:
    planned = guardrail_sample_size(guard, baseline).control
    runs = 2000
    schedule = looks(2 * planned, 20)
    rng = np.random.default_rng(seed(name))
    outcome = guardrail_outcome(
        guard, metric.arms(rng, runs, schedule, 1.0), metric.arms(rng, runs, schedule, 1.0)
    )
    assert outcome.fail_by_end <= ALPHA + slack(ALPHA, runs), name


@pytest.mark.parametrize(
    ("name", "metric", "guard", "baseline", "harmed"), SCENARIOS, ids=[s[0] for s in SCENARIOS]
)
def test_the_planned_sample_decides_both_ways(
    name: str, metric: Metric, guard: Guardrail, baseline: Baseline, harmed: float
) -> None:
    """Margin-sized harm FAILs, and no harm PASSes, in 80% of runs by the planned sample."""
    planned = guardrail_sample_size(guard, baseline).control
    runs = 1000
    schedule = looks(planned, 10)
    rng = np.random.default_rng(seed(name) + 7)
    control = metric.arms(rng, runs, schedule, 1.0)
    harm = guardrail_outcome(guard, control, metric.arms(rng, runs, schedule, harmed))
    none = guardrail_outcome(guard, control, metric.arms(rng, runs, schedule, 1.0))
    assert harm.fail_by_end >= 0.8 - slack(0.8, runs), name
    assert none.pass_at_end >= 0.8 - slack(0.8, runs), name
    # A margin-sized harm is rarely waved through, even by a gate that advances on any PASS.
    assert harm.pass_anytime <= ALPHA + slack(ALPHA, runs)
    assert none.fail_by_end <= ALPHA + slack(ALPHA, runs)


COVERAGE: list[tuple[str, Metric, float]] = [
    ("proportion", Bernoulli(0.1), 1.1),
    ("mean", LogNormal(4.0, 1.0), 1.05),
    ("ratio", Ratio(2.0, 0.05), 1.05),
]


@pytest.mark.parametrize(("kind", "metric", "factor"), COVERAGE, ids=[c[0] for c in COVERAGE])
def test_interval_coverage(kind: str, metric: Metric, factor: float) -> None:
    """Sequential intervals hold at every look; Welch's at its one look."""
    runs = 600
    schedule = looks(20_000, 20)
    rng = np.random.default_rng(len(kind))
    control = metric.arms(rng, runs, schedule, 1.0)
    treatment = metric.arms(rng, runs, schedule, factor)
    truth = metric.true_value(factor) - metric.true_value(1.0)

    def sequential(c: Any, t: Any) -> tuple[float, float]:
        effect = sequential_test(c, t)
        return effect.ci_low, effect.ci_high

    def fixed(c: Any, t: Any) -> tuple[float, float]:
        effect = welch_test(c, t)
        return effect.ci_low, effect.ci_high

    always, _ = time_uniform_coverage(sequential, truth, control, treatment)
    _, at_last = time_uniform_coverage(fixed, truth, control, treatment)
    assert always >= 1 - ALPHA - slack(1 - ALPHA, runs), kind
    assert at_last >= 1 - ALPHA - slack(1 - ALPHA, runs), kind
