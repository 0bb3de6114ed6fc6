"""Simulated rollouts through ``reconcile``: the fast versions of issue 5's P3, D1 and D2.

The full benchmark (``python -m benchmarks.decision_quality``) runs the realistic plan — 1% →
5% → 25% → 100% over hours, three guardrails, 2,000 A/A runs. Here a shorter plan (5% → 25% →
100%, minutes, two guardrails) keeps each run to a few reconciles, so a few hundred seeded runs
take seconds; every bound is the goal widened by three binomial standard errors, so a correct
controller fails about once in a thousand runs of the suite and a broken one fails here.
"""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.decision_quality.rollouts import (
    STABLE,
    Harm,
    Traffic,
    detection,
    harms,
    lower,
    plan,
    simulate,
    upper,
)

from rampgate.control import RolloutPlan, Status
from rampgate.control.evidence import srm_evidence
from rampgate.stats import Design, sample_size

MINUTE = 60.0
RUNS = 200


def short_plan() -> RolloutPlan:
    return plan(
        steps=[
            {"weight": 0.05, "min_duration": "10m", "min_units": 300},
            {"weight": 0.25, "min_duration": "10m"},
            {"weight": 1.0},
        ],
        guardrails=[
            {"metric": "task_success", "margin": 0.02},
            {"metric": "escalation", "margin": "10%"},
        ],
        max_duration="1d",
    )


def test_a_healthy_candidate_is_rarely_rolled_back_and_usually_promoted() -> None:
    # 100,000 units a look: the 5% step reaches its power-rule sample in a handful of looks.
    traffic = Traffic(units_per_minute=20_000, interval=5 * MINUTE)
    aa = simulate(short_plan(), STABLE, RUNS, seed=5, traffic=traffic)
    assert aa.share(Status.ROLLED_BACK) <= upper(0.05, RUNS), aa.failed
    assert aa.share(Status.PROMOTED) >= lower(0.9, RUNS)
    assert aa.undecided_moves == 0


@pytest.mark.parametrize("harm", harms()[:2], ids=lambda h: h.metric)
def test_twice_the_margin_is_rolled_back_early(harm: Harm) -> None:
    rollout = short_plan()
    # About fifteen looks to the fixed-horizon sample: the gaps between looks add little.
    fixed = harm.fixed_horizon(rollout.steps[0].weight, alpha=rollout.gates.alpha)
    traffic = Traffic(units_per_minute=round(fixed.total / 15), interval=MINUTE)
    outcome = simulate(rollout, harm.candidate, RUNS, seed=7, traffic=traffic)
    d = detection(outcome, harm, rollout)
    assert d.rolled_back >= lower(0.8, RUNS)
    assert d.promoted == 0 and outcome.undecided_moves == 0
    assert d.own_guardrail >= 0.95
    assert d.by_step[0] == 1.0  # twice the margin never passes the first step
    assert d.ratio <= 0.5 + 3 * d.ratio_se, d


def test_the_fixed_horizon_is_the_textbook_one_sided_sample() -> None:
    # Against H0: harm <= 0 it must be the planner's one-sided fixed design, arm for arm.
    for harm in harms():
        for share in (0.01, 0.05, 0.25):
            design = Design(
                alpha=0.05,
                alternative="greater" if harm.effect > 0 else "less",
                treatment_share=share,
            )
            planned = sample_size(harm.baseline, harm.effect, relative=harm.relative, design=design)
            ours = harm.fixed_horizon(share, alpha=0.05, null=0.0)
            assert abs(ours.treatment - planned.treatment) <= 1
            assert abs(ours.control - planned.control) <= 1
            # Distance m instead of 2m: four times the units, give or take the rounding.
            ni = harm.fixed_horizon(share, alpha=0.05)
            assert ni.treatment == pytest.approx(4 * ours.treatment, rel=0.01)


def test_the_srm_check_stays_quiet_over_a_long_step_of_healthy_splits() -> None:
    # 300 looks of a 1% step, units split honestly: a chi-square at p < 0.001 at every look
    # alarms in about 2% of steps; the always-valid check must stay near its 0.001.
    runs, looks, per_look, weight = 600, 300, 10_000, 0.01
    rng = np.random.default_rng(11)
    candidate = np.cumsum(rng.binomial(per_look, weight, size=(runs, looks)), axis=1)
    totals = per_look * np.arange(1, looks + 1)
    alarms = 0
    for row in candidate:
        alarms += any(
            srm_evidence((int(n - c), int(c)), (1 - weight, weight), 0.001).flagged
            for n, c in zip(totals, row, strict=True)
        )
    assert alarms / runs <= upper(0.001, runs)
