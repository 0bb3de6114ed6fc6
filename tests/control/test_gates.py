"""How the gates spend a plan's alpha over its phases and guardrails, read through ``assess``."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampgate.control import (
    DEFAULT_METRICS,
    Arms,
    GateSettings,
    GuardrailSpec,
    Observations,
    RolloutPlan,
    RolloutState,
    Shadow,
    Status,
    Step,
    assess,
    required_sample,
)
from rampgate.control.gates import _phase_settings
from rampgate.stats import ProportionStats

RATES = ("task_success", "escalation", "fallback", "user_correction", "error")


def rollout(steps: int, guardrails: int, *, shadow: bool, alpha: float = 0.05) -> RolloutPlan:
    """``steps`` steps evenly up to 100%, ``guardrails`` rate guardrails of margin 0.02."""
    return RolloutPlan(
        name="p",
        flag="f",
        environment="prod",
        stable="stable",
        candidate="candidate",
        steps=tuple(Step((k + 1) / steps) for k in range(steps)),
        guardrails=tuple(
            GuardrailSpec(DEFAULT_METRICS[m], margin=0.02) for m in RATES[:guardrails]
        ),
        shadow=Shadow(0.1, 10) if shadow else None,
        gates=GateSettings(alpha=alpha),
    )


def observed(plan: RolloutPlan) -> Observations:
    arms = Arms(ProportionStats(9_000, 900), ProportionStats(1_000, 100))
    metrics = {g.metric.name: arms for g in plan.guardrails}
    return Observations(metrics=metrics, units=(9_000, 1_000), shadow_metrics=metrics)


def alphas(plan: RolloutPlan) -> dict[int | None, tuple[float, ...]]:
    """Phase (a step, ``None`` for shadow) → the alpha each guardrail's evidence reports."""
    states = [RolloutState("p#1", Status.RUNNING, k, 0.0, 0.0) for k in range(len(plan.steps))]
    tested = states[: max(len(plan.steps) - 1, 1)]  # the last step is the promotion
    if plan.shadow is not None:
        tested.append(RolloutState("p#1", Status.SHADOW, None, 0.0, 0.0))
    return {
        s.step: tuple(e.alpha for e in assess(plan, s, observed(plan), 0.0).evidence)
        for s in tested
    }


@settings(max_examples=100, deadline=None)
@given(
    steps=st.integers(1, 7),
    guardrails=st.integers(1, len(RATES)),
    shadow=st.booleans(),
    alpha=st.floats(0.001, 0.49),
)
def test_the_union_bound_over_phases_and_guardrails_is_the_plans_alpha(
    steps: int, guardrails: int, shadow: bool, alpha: float
) -> None:
    # A false rollback needs a false FAIL in some phase and guardrail: the tests' alphas must
    # add up to no more than the plan's, and spending less than all of it would waste power.
    spent = alphas(rollout(steps, guardrails, shadow=shadow, alpha=alpha))
    assert math.fsum(a for phase in spent.values() for a in phase) == pytest.approx(alpha)
    first, *others = spent.values()
    assert len(set(first)) == 1  # every guardrail has the same share
    assert all(max(phase) <= first[0] for phase in others)
    if others:
        assert first[0] == pytest.approx(alpha / (2 * guardrails))


def test_the_first_step_gets_half_of_each_guardrails_share() -> None:
    # The benchmark's ramp: 1% -> 5% -> 25% -> 100% with three guardrails.
    spent = alphas(rollout(4, 3, shadow=False))
    assert spent == {0: (0.05 / 6,) * 3, 1: (0.05 / 12,) * 3, 2: (0.05 / 12,) * 3}


def test_the_shadow_phase_shares_the_second_half_with_the_later_steps() -> None:
    spent = alphas(rollout(3, 2, shadow=True))
    assert spent == {0: (0.05 / 4,) * 2, 1: (0.05 / 8,) * 2, None: (0.05 / 8,) * 2}


def test_a_single_tested_phase_spends_everything() -> None:
    assert alphas(rollout(2, 2, shadow=False)) == {0: (0.025, 0.025)}
    assert alphas(rollout(1, 1, shadow=True)) == {0: (0.025,), None: (0.025,)}


@pytest.mark.parametrize("step", [0, 1, 2])
def test_the_power_rule_plans_with_the_alpha_the_step_tests_at(step: int) -> None:
    plan = rollout(4, 3, shadow=False)
    state = RolloutState("p#1", Status.RUNNING, step, 0.0, 0.0)
    evidence = assess(plan, state, observed(plan), 0.0).evidence
    gates = _phase_settings(plan, step)
    weight = plan.steps[step].weight
    for spec, e in zip(plan.guardrails, evidence, strict=True):
        assert e.alpha == gates.alpha
        need = required_sample(spec, ProportionStats(9_000, 900), weight, gates, 3)
        assert need is not None and e.required == (need.control, need.treatment)
    # A smaller alpha asks for more units: the later steps wait longer at the same share.
    first = replace(gates, alpha=_phase_settings(plan, 0).alpha)
    later = required_sample(plan.guardrails[0], ProportionStats(9_000, 900), 0.5, gates, 3)
    sooner = required_sample(plan.guardrails[0], ProportionStats(9_000, 900), 0.5, first, 3)
    assert later is not None and sooner is not None
    assert (later.total > sooner.total) is (step > 0)
