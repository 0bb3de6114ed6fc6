"""Invariants of the controller over random evidence (hypothesis).

- INCONCLUSIVE (or anything short of every guardrail passing) never advances or promotes;
- a gate never relaxes as evidence worsens: a worse candidate never turns FAIL or INCONCLUSIVE
  into PASS, nor a hold or a rollback into an advance;
- reconcile is deterministic, and its idempotency keys never repeat within one call.
"""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rampgate.control import (
    Action,
    Arms,
    GuardrailSpec,
    Observations,
    Promote,
    Rollback,
    RolloutState,
    SetWeights,
    Status,
    assess,
    reconcile,
)
from rampgate.stats import ProportionStats, Verdict

from .builders import ESCALATION, MINUTE, TASK_SUCCESS, at_step, make_plan

PLAN = make_plan(
    guardrails=(
        GuardrailSpec(ESCALATION, margin=0.02),
        GuardrailSpec(TASK_SUCCESS, margin=0.05, relative=True),
    )
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclasses.dataclass(frozen=True)
class Case:
    state: RolloutState
    now: float
    n: tuple[int, int]
    escalated: tuple[int, int]
    succeeded: tuple[int, int]

    def observations(self) -> Observations:
        (n_c, n_t), (e_c, e_t), (s_c, s_t) = self.n, self.escalated, self.succeeded
        return Observations(
            metrics={
                "escalation": Arms(ProportionStats(n_c, e_c), ProportionStats(n_t, e_t)),
                "task_success": Arms(ProportionStats(n_c, s_c), ProportionStats(n_t, s_t)),
            },
            units=(n_c, n_t),
        )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    index = draw(st.sampled_from([0, 1]))
    status = draw(st.sampled_from([Status.RUNNING, Status.AWAITING_APPROVAL]))
    approved = draw(st.frozensets(st.sampled_from([0, 1])))
    weight = PLAN.steps[index].weight
    # Units follow the weights (a little noise), so SRM rarely hides the guardrails.
    total = draw(st.integers(0, 1_000_000))
    n_t = max(0, round(total * weight) + draw(st.integers(-50, 50)))
    n_c = max(0, total - round(total * weight))
    # Rates near each other, where the verdicts are hard, and the candidate's anywhere nearby.
    p_esc = draw(st.floats(0.02, 0.2))
    p_ok = draw(st.floats(0.6, 0.95))
    d_esc = draw(st.one_of(st.just(0.0), st.floats(-0.02, 0.05)))
    d_ok = draw(st.one_of(st.just(0.0), st.floats(-0.1, 0.03)))

    def count(n: int, p: float) -> int:
        return min(n, max(0, round(n * p)))

    e_c, e_t = count(n_c, p_esc), count(n_t, p_esc + d_esc)
    s_c, s_t = count(n_c, p_ok), count(n_t, p_ok + d_ok)
    state = at_step(index, status=status, approved=approved)
    now = draw(st.floats(0.0, 3 * MINUTE))
    return Case(state, now, (n_c, n_t), (e_c, e_t), (s_c, s_t))


def outcome(state: RolloutState, actions: tuple[Action, ...]) -> int:
    """0 advance/promote, 1 await approval, 2 hold, 3 roll back: higher is more cautious."""
    if any(isinstance(a, Rollback) for a in actions):
        return 3
    if any(isinstance(a, SetWeights | Promote) for a in actions):
        return 0
    return 1 if state.status is Status.AWAITING_APPROVAL else 2


def worse(case: Case, k: int) -> Case:
    """The same case with the candidate ``k`` units worse on both guardrails."""
    n_t = case.n[1]
    e_c, e_t = case.escalated
    s_c, s_t = case.succeeded
    return dataclasses.replace(
        case, escalated=(e_c, min(n_t, e_t + k)), succeeded=(s_c, max(0, s_t - k))
    )


@SETTINGS
@given(cases())
def test_nothing_short_of_every_guardrail_passing_advances(case: Case) -> None:
    obs = case.observations()
    a = assess(PLAN, case.state, obs, case.now)
    state, actions = reconcile(case.state, obs, case.now, PLAN)
    moved = any(isinstance(x, SetWeights | Promote) for x in actions)
    if moved:
        assert a.verdict is Verdict.PASS
        assert a.ready()
        assert not any(isinstance(x, Rollback) for x in actions)
    if a.verdict is not Verdict.PASS:
        assert not moved
        assert state.status is not Status.PROMOTED
        assert state.step == case.state.step


@SETTINGS
@given(cases(), st.integers(1, 5_000))
def test_a_gate_never_relaxes_as_evidence_worsens(case: Case, k: int) -> None:
    bad = worse(case, k)
    before = assess(PLAN, case.state, case.observations(), case.now)
    after = assess(PLAN, bad.state, bad.observations(), bad.now)
    for b, w in zip(before.evidence, after.evidence, strict=True):
        if b.verdict is Verdict.FAIL:
            assert w.verdict is Verdict.FAIL, (b, w)
        if b.verdict is Verdict.INCONCLUSIVE:
            assert w.verdict is not Verdict.PASS, (b, w)
    base = outcome(*reconcile(case.state, case.observations(), case.now, PLAN))
    event(f"outcome before: {['advance', 'await approval', 'hold', 'roll back'][base]}")
    assert outcome(*reconcile(bad.state, bad.observations(), bad.now, PLAN)) >= base


@SETTINGS
@given(cases())
def test_reconcile_is_deterministic_and_keys_are_unique(case: Case) -> None:
    obs = case.observations()
    first = reconcile(case.state, obs, case.now, PLAN)
    assert repr(reconcile(case.state, obs, case.now, PLAN)) == repr(first)
    keys = [a.idempotency_key for a in first[1]]
    assert len(keys) == len(set(keys))
    assert all(k.startswith(case.state.rollout_id + "/") for k in keys)
