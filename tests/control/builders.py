"""Plans, states and observations for controller tests: small, explicit, no clock."""

from __future__ import annotations

import dataclasses
from typing import Any

from rampgate.control import (
    DEFAULT_METRICS,
    Action,
    Arms,
    Command,
    CommandKind,
    EvalResult,
    GuardrailSpec,
    Observations,
    RolloutPlan,
    RolloutState,
    Status,
    Step,
    reconcile,
)
from rampgate.stats import ProportionStats

ESCALATION = DEFAULT_METRICS["escalation"]
TASK_SUCCESS = DEFAULT_METRICS["task_success"]
MINUTE = 60.0
SUITE = "regression-suite"


def make_plan(**overrides: Any) -> RolloutPlan:
    """10% for a minute, 50% for a minute with approval, then 100%; escalation within 2 points."""
    fields: dict[str, Any] = {
        "name": "agent-v2",
        "flag": "agent",
        "environment": "prod",
        "stable": "stable",
        "candidate": "candidate",
        "steps": (
            Step(0.1, min_duration=MINUTE),
            Step(0.5, min_duration=MINUTE, approval=True),
            Step(1.0),
        ),
        "guardrails": (GuardrailSpec(ESCALATION, margin=0.02),),
    }
    fields.update(overrides)
    return RolloutPlan(**fields)


def at_step(
    step: int, status: Status = Status.RUNNING, since: float = 0.0, **kw: Any
) -> RolloutState:
    return RolloutState(
        "agent-v2#1", status=status, step=step, started_at=0.0, phase_started_at=since, **kw
    )


def arms(weight: float, total: int, stable_rate: float, candidate_rate: float) -> Arms:
    n_c = round(total * (1 - weight))
    n_t = total - n_c
    return Arms(
        ProportionStats(n_c, round(n_c * stable_rate)),
        ProportionStats(n_t, round(n_t * candidate_rate)),
    )


def observe(
    weight: float,
    *,
    total: int = 400_000,
    stable_rate: float = 0.10,
    candidate_rate: float = 0.10,
    **kw: Any,
) -> Observations:
    """A step's evidence at ``weight``: units split exactly by the weights, given rates."""
    a = arms(weight, total, stable_rate, candidate_rate)
    return Observations(metrics={"escalation": a}, units=(a.stable.n, a.candidate.n), **kw)


def healthy(weight: float, **kw: Any) -> Observations:
    return observe(weight, **kw)


def harmful(weight: float, **kw: Any) -> Observations:
    """Escalation up by 6 points: three times the margin, established at this sample."""
    return observe(weight, candidate_rate=0.16, **kw)


def command(kind: str, actor: str = "alice", **kw: Any) -> Command:
    return Command(CommandKind(kind), actor, **kw)


def with_commands(obs: Observations, *commands: Command) -> Observations:
    return dataclasses.replace(obs, commands=commands)


def passed_eval(obs: Observations, passed: bool = True) -> Observations:
    return dataclasses.replace(obs, evals={SUITE: EvalResult(SUITE, passed, id="run-7")})


def kinds(actions: tuple[Action, ...]) -> list[str]:
    return [type(a).__name__ for a in actions]


def step(
    plan: RolloutPlan, state: RolloutState, obs: Observations, now: float
) -> tuple[RolloutState, tuple[Action, ...]]:
    """``reconcile``, checking on the way that it is deterministic.

    Compared by ``repr``: evidence of an empty arm holds NaN, which equals nothing, itself included.
    """
    first = reconcile(state, obs, now, plan)
    assert repr(reconcile(state, obs, now, plan)) == repr(first)
    return first
