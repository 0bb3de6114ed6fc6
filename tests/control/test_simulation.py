"""Simulated rollouts through the real controller: false rollbacks are rare, real harm is caught.

Traffic is drawn with numpy for all runs at once, look by look: each run's units split by its own
step's weights (binomially, so SRM sees honest noise) and its escalations by each arm's true rate.
Every run then goes through ``reconcile`` exactly as a driver would call it, with the per-arm
aggregates since its step started. A rollout looks at every reconcile; the always-valid bounds
make that safe.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rampgate.control import (
    Arms,
    GuardrailSpec,
    Observations,
    RolloutState,
    Status,
    Step,
    reconcile,
)
from rampgate.stats import ProportionStats

from .builders import ESCALATION, make_plan

pytestmark = pytest.mark.slow

LOOK = 600.0  # seconds between reconciles
PER_LOOK = 4_000  # units entering per look
BASE_RATE = 0.10
MARGIN = 0.03
PLAN = make_plan(
    steps=(
        Step(0.1, min_duration=LOOK),
        Step(0.3, min_duration=LOOK),
        Step(0.5, min_duration=LOOK),
        Step(1.0),
    ),
    guardrails=(GuardrailSpec(ESCALATION, margin=MARGIN),),
)


def simulate(runs: int, candidate_rate: float, *, seed: int, looks: int = 40) -> dict[Status, int]:
    """Final status of ``runs`` rollouts, each given up to ``looks`` reconciles."""
    rng = np.random.default_rng(seed)
    states = [RolloutState(f"sim#{i}") for i in range(runs)]
    # Per run, since its step started: units and escalations in (stable, candidate).
    units = np.zeros((runs, 2), dtype=np.int64)
    events = np.zeros((runs, 2), dtype=np.int64)
    for look in range(looks):
        now = look * LOOK
        active = [i for i, s in enumerate(states) if not s.status.terminal]
        if not active:
            break
        idx = np.asarray(active)
        weight = np.asarray([PLAN.weights(states[i].step)[1][1] for i in active])
        to_candidate = rng.binomial(PER_LOOK, weight)
        arrivals = np.stack([PER_LOOK - to_candidate, to_candidate], axis=1)
        rates = np.asarray([BASE_RATE, candidate_rate])
        units[idx] += arrivals
        events[idx] += rng.binomial(arrivals, rates)
        for i in active:
            if states[i].step is None:
                units[i] = events[i] = 0  # nothing measured before the first step
            obs = Observations(
                metrics={
                    "escalation": Arms(
                        ProportionStats(int(units[i, 0]), int(events[i, 0])),
                        ProportionStats(int(units[i, 1]), int(events[i, 1])),
                    )
                },
                units=(int(units[i, 0]), int(units[i, 1])),
            )
            before = states[i].step
            states[i], _ = reconcile(states[i], obs, now, PLAN)
            if states[i].step != before:
                units[i] = events[i] = 0  # a new step measures from its own start
    counts: dict[Status, int] = {}
    for s in states:
        counts[s.status] = counts.get(s.status, 0) + 1
    return counts


def upper(rate: float, runs: int) -> float:
    """The goal plus three Monte Carlo standard errors."""
    return rate + 3 * math.sqrt(rate * (1 - rate) / runs)


def test_a_healthy_candidate_is_rarely_rolled_back() -> None:
    runs = 240
    counts = simulate(runs, BASE_RATE, seed=7)
    rolled_back = counts.get(Status.ROLLED_BACK, 0) / runs
    assert rolled_back <= upper(0.05, runs), counts
    assert counts.get(Status.PROMOTED, 0) / runs >= 0.8, counts


def test_harm_twice_the_margin_is_rolled_back_in_most_runs() -> None:
    runs = 240
    counts = simulate(runs, BASE_RATE + 2 * MARGIN, seed=11)
    assert counts.get(Status.ROLLED_BACK, 0) / runs >= 0.9, counts
    assert counts.get(Status.PROMOTED, 0) == 0, counts
