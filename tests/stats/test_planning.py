"""Planning: sample sizes against statsmodels, and the planned power checked by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower

from rampgate.stats import (
    Baseline,
    Design,
    Guardrail,
    MeanStats,
    ProportionStats,
    duration_days,
    guardrail_sample_size,
    minimum_detectable_effect,
    plan_experiment,
    sample_size,
    sequential_test,
    welch_test,
)


@pytest.mark.parametrize("alternative", ["two-sided", "larger"])
@pytest.mark.parametrize(
    ("effect", "sd", "ratio"), [(0.2, 2.0, 1.0), (1.0, 3.0, 1.0), (0.05, 1.0, 3.0)]
)
def test_fixed_design_matches_statsmodels(
    effect: float, sd: float, ratio: float, alternative: str
) -> None:
    share = ratio / (1.0 + ratio)  # statsmodels' ratio is n_treatment / n_control
    design = Design(
        treatment_share=share, alternative="two-sided" if alternative == "two-sided" else "greater"
    )
    mine = sample_size(Baseline(100.0, sd**2), effect, design=design)
    ref = NormalIndPower().solve_power(
        effect_size=effect / sd, alpha=0.05, power=0.8, ratio=ratio, alternative=alternative
    )
    # statsmodels counts the far tail's tiny power too, so it may need a hair fewer units.
    assert math.ceil(ref) - 1 <= mine.control <= math.ceil(ref) + 1
    assert mine.treatment == pytest.approx(ratio * mine.control, rel=1e-3, abs=1)


def simulated_power(
    baseline_rate: float, effect: float, n: int, *, sequential: bool, runs: int = 2000
) -> float:
    rng = np.random.default_rng(int(effect * 1e6) + n)
    control = rng.binomial(n, baseline_rate, runs)
    treatment = rng.binomial(n, baseline_rate + effect, runs)
    test = sequential_test if sequential else welch_test
    wins = sum(
        test(ProportionStats(n, int(c)), ProportionStats(n, int(t))).significant
        for c, t in zip(control, treatment, strict=True)
    )
    return wins / runs


@pytest.mark.parametrize("sequential", [False, True])
def test_planned_sample_reaches_the_power(sequential: bool) -> None:
    """At the planned sample, 80% of simulated experiments are significant — not far more."""
    design = Design(sequential=sequential)
    n = sample_size(Baseline.rate(0.2), 0.02, design=design).control
    power = simulated_power(0.2, 0.02, n, sequential=sequential)
    stderr = math.sqrt(0.8 * 0.2 / 2000)
    assert 0.8 - 3 * stderr <= power <= 0.8 + 3 * stderr + 0.01


def test_sequential_designs_cost_more_units() -> None:
    fixed = sample_size(Baseline.rate(0.1), 0.01)
    always = sample_size(Baseline.rate(0.1), 0.01, design=Design(sequential=True))
    assert 1.5 * fixed.total < always.total < 4 * fixed.total


@pytest.mark.parametrize("relative", [False, True])
@pytest.mark.parametrize("sequential", [False, True])
def test_minimum_detectable_effect_inverts_sample_size(relative: bool, sequential: bool) -> None:
    design = Design(sequential=sequential)
    for baseline, effect in (
        (Baseline.rate(0.3), 0.05 if relative else 0.015),
        (Baseline(50.0, 400.0), 0.02 if relative else 1.0),
    ):
        n = sample_size(baseline, effect, relative=relative, design=design)
        mde = minimum_detectable_effect(baseline, n.total, relative=relative, design=design)
        assert mde <= effect
        assert mde == pytest.approx(effect, rel=5e-3)


def test_unequal_split_needs_more_units_in_total() -> None:
    even = sample_size(Baseline(10.0, 4.0), 0.1)
    canary = sample_size(Baseline(10.0, 4.0), 0.1, design=Design(treatment_share=0.05))
    # se² ∝ 1/(s(1-s)): a 5% arm needs 0.25/0.0475 = 5.26 times the units of a 50/50 split.
    assert canary.total / even.total == pytest.approx(0.25 / (0.05 * 0.95), rel=1e-3)
    assert canary.treatment < canary.control


def test_guardrail_minimum_sample() -> None:
    guard = Guardrail(margin=0.02, higher_is_better=True)
    base = Baseline.rate(0.8)
    n = guardrail_sample_size(guard, base)
    tighter = guardrail_sample_size(Guardrail(margin=0.01, higher_is_better=True), base)
    tolerant = guardrail_sample_size(
        Guardrail(margin=0.02, tolerance=0.01, higher_is_better=True), base
    )
    assert 3 * n.total < tighter.total < 5 * n.total  # about 1/margin², plus the boundary's growth
    assert tolerant.total > n.total  # a harm must clear the tolerance to fail
    relative = guardrail_sample_size(Guardrail(margin=0.1, relative=True), Baseline.rate(0.1))
    absolute = guardrail_sample_size(Guardrail(margin=0.01), Baseline.rate(0.1))
    # The same harm, 0.01 on a 10% rate; a lift also carries the control mean's uncertainty,
    # scaled by (p_t/p_c)² = 1.21 in the delta method.
    assert absolute.total < relative.total < 1.2 * absolute.total
    canary = guardrail_sample_size(guard, base, treatment_share=0.05)
    assert canary.treatment < n.treatment < canary.control


def test_plan_and_duration() -> None:
    guard = (Guardrail(margin=0.05, relative=True), Baseline.rate(0.1))
    plan = plan_experiment(
        Baseline.rate(0.3),
        0.02,
        units_per_day=2_000,
        design=Design(sequential=True),
        guardrails=(guard,),
    )
    assert plan.sample == sample_size(Baseline.rate(0.3), 0.02, design=Design(sequential=True))
    longest = max(plan.sample.total, plan.guardrails[0][1].total)
    assert plan.days == pytest.approx(longest / 2_000)
    assert duration_days(1000, units_per_day=250) == 4.0
    assert duration_days(plan.sample, units_per_day=plan.sample.total) == 1.0


def test_baselines_and_bad_input() -> None:
    assert Baseline.from_stats(ProportionStats(100, 20)) == Baseline.rate(0.2)
    assert Baseline.from_stats(MeanStats.from_values([1.0, 3.0])) == Baseline(2.0, 2.0)
    with pytest.raises(ValueError, match="rate"):
        Baseline.rate(0.0)
    with pytest.raises(ValueError, match="effect"):
        sample_size(Baseline.rate(0.2), 0.0)
    with pytest.raises(ValueError, match="outside"):
        sample_size(Baseline.rate(0.9), 0.2)
    with pytest.raises(ValueError, match="too small"):
        sample_size(Baseline(1.0, 1e6), 1e-9)
    with pytest.raises(ValueError, match="power"):
        Design(power=0.3)
    with pytest.raises(ValueError, match="quantile"):
        guardrail_sample_size(Guardrail(margin=0.1, quantile=0.95), Baseline(1.0, 1.0))
