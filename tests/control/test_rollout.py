"""The rollout controller, transition by transition: pure, no server, no clock."""

from __future__ import annotations

import dataclasses

import pytest

from rampgate.control import (
    CONTROLLER,
    Alert,
    Arms,
    Decision,
    GuardrailSpec,
    Observations,
    OnInconclusive,
    Promote,
    RecordSnapshot,
    Rollback,
    RollbackMode,
    RolloutState,
    SetShadow,
    SetWeights,
    Shadow,
    Status,
    Step,
    assess,
    reconcile,
)
from rampgate.stats import MeanStats, ProportionStats, Verdict

from .builders import (
    MINUTE,
    SUITE,
    TASK_SUCCESS,
    at_step,
    command,
    harmful,
    healthy,
    kinds,
    make_plan,
    observe,
    passed_eval,
    step,
    with_commands,
)

PLAN = make_plan()
PENDING = RolloutState("agent-v2#1")


def snapshot_of(actions: tuple[object, ...]) -> RecordSnapshot:
    records = [a for a in actions if isinstance(a, RecordSnapshot)]
    assert len(records) == 1, actions
    return records[0]


# -- starting ---------------------------------------------------------------------------------


def test_pending_starts_at_the_first_step() -> None:
    state, actions = step(PLAN, PENDING, Observations(), 5.0)
    assert state.status is Status.RUNNING and state.step == 0
    assert state.started_at == 5.0 and state.phase_started_at == 5.0
    assert kinds(actions) == ["SetWeights", "RecordSnapshot"]
    weights = actions[0]
    assert isinstance(weights, SetWeights)
    assert weights.weights == (("stable", 0.9), ("candidate", 0.1))
    assert weights.idempotency_key == "agent-v2#1/step-0/set-weights"
    assert weights.snapshot_id == snapshot_of(actions).snapshot.id == "agent-v2#1/snapshot/0"
    assert snapshot_of(actions).snapshot.decision is Decision.START


def test_pending_with_shadow_starts_shadowing() -> None:
    plan = make_plan(shadow=Shadow(sample=0.2, min_pairs=100))
    state, actions = step(plan, PENDING, Observations(), 0.0)
    assert state.status is Status.SHADOW and state.step is None
    shadow = actions[0]
    assert isinstance(shadow, SetShadow) and shadow.sample == 0.2
    assert shadow.variant == "candidate"


def test_shadow_waits_for_pairs_then_starts_the_first_step() -> None:
    plan = make_plan(shadow=Shadow(sample=0.2, min_pairs=100))
    state, _ = step(plan, PENDING, Observations(), 0.0)
    same, actions = step(plan, state, Observations(shadow_pairs=99), 10.0)
    assert (same, actions) == (state, ())
    state, actions = step(plan, state, Observations(shadow_pairs=100), 20.0)
    assert state.status is Status.RUNNING and state.step == 0
    assert kinds(actions) == ["SetWeights", "SetShadow", "RecordSnapshot"]
    stop = actions[1]
    assert isinstance(stop, SetShadow) and stop.sample == 0.0


def test_shadow_guardrail_failure_rolls_back() -> None:
    plan = make_plan(shadow=Shadow(sample=0.2, min_pairs=100))
    state, _ = step(plan, PENDING, Observations(), 0.0)
    bad = harmful(0.5)
    obs = Observations(shadow_pairs=50, shadow_metrics=bad.metrics)
    state, actions = step(plan, state, obs, 10.0)
    assert state.status is Status.ROLLED_BACK
    assert isinstance(actions[0], Rollback)


def test_shadow_passes_only_when_its_guardrails_pass() -> None:
    plan = make_plan(shadow=Shadow(sample=0.2, min_pairs=10))
    state, _ = step(plan, PENDING, Observations(), 0.0)
    thin = observe(0.5, total=40)  # too few pairs for the guardrail to decide
    obs = Observations(shadow_pairs=40, shadow_metrics=thin.metrics)
    assert step(plan, state, obs, 10.0) == (state, ())
    obs = Observations(shadow_pairs=400_000, shadow_metrics=healthy(0.5).metrics)
    assert step(plan, state, obs, 20.0)[0].status is Status.RUNNING


# -- stepping ---------------------------------------------------------------------------------


def test_a_step_holds_until_its_min_duration() -> None:
    state = at_step(0)
    assert step(PLAN, state, healthy(0.1), MINUTE - 1) == (state, ())


def test_a_step_advances_when_every_gate_passes() -> None:
    state, actions = step(PLAN, at_step(0), healthy(0.1), MINUTE)
    assert state.status is Status.RUNNING and state.step == 1
    assert state.phase_started_at == MINUTE
    assert kinds(actions) == ["SetWeights", "RecordSnapshot"]
    assert actions[0].weights == (("stable", 0.5), ("candidate", 0.5))  # type: ignore[union-attr]
    snap = snapshot_of(actions).snapshot
    assert snap.decision is Decision.ADVANCE
    assert (snap.status_from, snap.step_from, snap.status_to, snap.step_to) == (
        "running",
        0,
        "running",
        1,
    )
    assert snap.weights == (("stable", 0.9), ("candidate", 0.1))


def test_a_step_holds_until_the_minimum_sample() -> None:
    thin = observe(0.1, total=2_000)
    state = at_step(0)
    a = assess(PLAN, state, thin, MINUTE)
    assert not a.gate("sample").passed
    new, actions = step(PLAN, state, thin, MINUTE)
    assert new.step == 0 and not any(isinstance(x, SetWeights) for x in actions)


def test_min_units_per_arm_holds_a_step() -> None:
    plan = make_plan(steps=(Step(0.1, min_units=50_000), Step(1.0)))
    state = at_step(0)
    assert step(plan, state, healthy(0.1), MINUTE)[0].step == 0  # 40,000 candidate units
    assert step(plan, state, healthy(0.1, total=600_000), MINUTE)[0].status is Status.PROMOTED


def test_approval_blocks_and_then_advances_to_promotion() -> None:
    state = at_step(1)
    state, actions = step(PLAN, state, healthy(0.5), MINUTE)
    assert state.status is Status.AWAITING_APPROVAL
    assert kinds(actions) == ["RecordSnapshot", "Alert"]
    assert actions[1].kind == "approval_needed"  # type: ignore[union-attr]
    # Waiting longer changes nothing and raises no second alert.
    assert step(PLAN, state, healthy(0.5), 10 * MINUTE) == (state, ())
    approved = with_commands(healthy(0.5), command("approve", "bob"))
    state, actions = step(PLAN, state, approved, 11 * MINUTE)
    assert state.status is Status.PROMOTED
    promote = actions[0]
    assert isinstance(promote, Promote)
    assert promote.weights == (("stable", 0.0), ("candidate", 1.0))
    assert promote.idempotency_key == "agent-v2#1/promote" and promote.actor == CONTROLLER


def test_an_approval_is_for_its_step_only() -> None:
    early = with_commands(healthy(0.1), command("approve", step=0))
    state, _ = step(PLAN, at_step(0, since=0.0), early, 1.0)
    assert state.approved == {0}
    state, _ = step(PLAN, state, healthy(0.1), MINUTE)
    assert state.step == 1
    state, _ = step(PLAN, state, healthy(0.5), 2 * MINUTE)
    assert state.status is Status.AWAITING_APPROVAL


def test_an_approval_given_ahead_of_time_is_honoured() -> None:
    ahead = with_commands(healthy(0.1), command("approve", step=1))
    state, _ = step(PLAN, at_step(0), ahead, MINUTE)
    assert state.step == 1 and state.approved == {1}
    state, _actions = step(PLAN, state, healthy(0.5), 2 * MINUTE)
    assert state.status is Status.PROMOTED


def test_awaiting_approval_returns_to_running_when_evidence_is_no_longer_enough() -> None:
    state = at_step(1, status=Status.AWAITING_APPROVAL)
    state, actions = step(PLAN, state, observe(0.5, total=2_000), MINUTE)
    assert state.status is Status.RUNNING
    assert snapshot_of(actions).snapshot.decision is Decision.HOLD


def test_the_last_step_is_reached_only_by_promotion() -> None:
    plan = make_plan(steps=(Step(0.1), Step(1.0)))
    state, actions = step(plan, at_step(0), healthy(0.1), 1.0)
    assert state.status is Status.PROMOTED and state.step == 1
    assert kinds(actions) == ["Promote", "RecordSnapshot"]


# -- guardrail-first, SRM ---------------------------------------------------------------------


def test_guardrail_failure_rolls_back_first() -> None:
    state, actions = step(PLAN, at_step(0), harmful(0.1), 1.0)
    assert state.status is Status.ROLLED_BACK
    assert kinds(actions) == ["Rollback", "RecordSnapshot", "Alert"]
    rollback = actions[0]
    assert isinstance(rollback, Rollback)
    assert rollback.weights == (("stable", 1.0), ("candidate", 0.0))
    assert rollback.mode is RollbackMode.HARD and rollback.variant == "stable"
    assert rollback.idempotency_key == "agent-v2#1/rollback"
    assert "escalation margin 0.02: FAIL" in rollback.reason
    snap = snapshot_of(actions).snapshot
    assert snap.decision is Decision.ROLLBACK and rollback.snapshot_id == snap.id
    assert snap.evidence[0].verdict is Verdict.FAIL


def test_guardrail_failure_wins_over_approval_promote_and_pause() -> None:
    obs = with_commands(
        harmful(0.5),
        command("approve", step=1),
        command("promote", reason="ship it"),
        command("pause"),
    )
    for status in (Status.RUNNING, Status.AWAITING_APPROVAL, Status.HELD):
        state, actions = step(PLAN, at_step(1, status=status), obs, MINUTE)
        assert state.status is Status.ROLLED_BACK, status
        assert isinstance(actions[0], Rollback)
        assert not any(isinstance(a, Promote | SetWeights) for a in actions)


def test_a_paused_rollout_still_rolls_back_on_failure() -> None:
    paused = at_step(0, status=Status.PAUSED, paused_from=Status.RUNNING)
    state, actions = step(PLAN, paused, harmful(0.1), 1.0)
    assert state.status is Status.ROLLED_BACK and isinstance(actions[0], Rollback)


def test_any_failing_guardrail_is_enough() -> None:
    plan = make_plan(guardrails=(GuardrailSpec(TASK_SUCCESS, margin=0.02), *make_plan().guardrails))
    obs = harmful(0.1)
    success = Arms(ProportionStats(360_000, 288_000), ProportionStats(40_000, 32_000))
    obs = dataclasses.replace(obs, metrics={**obs.metrics, "task_success": success})
    state, actions = step(plan, at_step(0), obs, 1.0)
    assert state.status is Status.ROLLED_BACK
    verdicts = {e.metric: e.verdict for e in snapshot_of(actions).snapshot.evidence}
    assert verdicts == {"task_success": Verdict.PASS, "escalation": Verdict.FAIL}


def test_sample_ratio_mismatch_rolls_back() -> None:
    obs = dataclasses.replace(healthy(0.1), units=(360_000, 38_000))
    state, actions = step(PLAN, at_step(0), obs, MINUTE)
    assert state.status is Status.ROLLED_BACK
    rollback = actions[0]
    assert isinstance(rollback, Rollback) and "sample ratio mismatch" in rollback.reason
    srm = snapshot_of(actions).snapshot.srm
    assert srm is not None and srm.flagged and srm.observed == (360_000, 38_000)


def test_srm_waits_for_enough_expected_units() -> None:
    # 2 of 10 units in a 1% arm: chi-square says p < 1e-8, the binomial says 0.004.
    plan = make_plan(steps=(Step(0.01), Step(1.0)))
    obs = dataclasses.replace(observe(0.01, total=10), units=(8, 2))
    state, _ = step(plan, at_step(0), obs, 1.0)
    assert state.status is Status.RUNNING


def test_soft_rollback_plans_roll_back_softly() -> None:
    plan = make_plan(rollback=RollbackMode.SOFT)
    _, actions = step(plan, at_step(0), harmful(0.1), 1.0)
    assert actions[0].mode is RollbackMode.SOFT  # type: ignore[union-attr]


# -- kill switch, operator commands -----------------------------------------------------------

LIVE = [
    PENDING,
    RolloutState("agent-v2#1", status=Status.SHADOW, started_at=0.0, phase_started_at=0.0),
    at_step(0),
    at_step(1, status=Status.AWAITING_APPROVAL),
    at_step(1, status=Status.PAUSED, paused_from=Status.RUNNING),
    at_step(1, status=Status.HELD),
]


@pytest.mark.parametrize("state", LIVE, ids=[str(s.status) for s in LIVE])
def test_kill_overrides_everything(state: RolloutState) -> None:
    obs = dataclasses.replace(
        with_commands(healthy(0.5), command("approve", step=1), command("promote", reason="go")),
        killed=True,
    )
    new, actions = step(make_plan(shadow=Shadow(0.1, 10)), state, obs, 10 * MINUTE)
    assert new.status is Status.ABORTED
    assert kinds(actions) == ["Rollback", "RecordSnapshot", "Alert"]
    rollback = actions[0]
    assert isinstance(rollback, Rollback)
    assert rollback.mode is RollbackMode.HARD and rollback.actor == "kill-switch"


@pytest.mark.parametrize("state", LIVE[1:], ids=[str(s.status) for s in LIVE[1:]])
def test_operator_rollback_skips_analysis(state: RolloutState) -> None:
    obs = with_commands(
        Observations(), command("rollback", "carol", reason="bad vibes", mode=RollbackMode.SOFT)
    )
    new, actions = step(make_plan(shadow=Shadow(0.1, 10)), state, obs, 1.0)
    assert new.status is Status.ROLLED_BACK
    rollback = actions[0]
    assert isinstance(rollback, Rollback)
    assert rollback.mode is RollbackMode.SOFT and rollback.actor == "carol"
    assert "bad vibes" in rollback.reason


def test_operator_rollback_before_start_aborts() -> None:
    new, actions = step(PLAN, PENDING, with_commands(Observations(), command("rollback")), 1.0)
    assert new.status is Status.ABORTED and isinstance(actions[0], Rollback)


def test_pause_and_resume() -> None:
    state, actions = step(
        PLAN, at_step(0), with_commands(healthy(0.1), command("pause", reason="incident")), MINUTE
    )
    assert state.status is Status.PAUSED and state.paused_from is Status.RUNNING
    assert kinds(actions) == ["RecordSnapshot"]
    assert snapshot_of(actions).snapshot.actor == "alice"
    # Paused: ready gates do not advance it.
    assert step(PLAN, state, healthy(0.1), 5 * MINUTE) == (state, ())
    state, actions = step(PLAN, state, with_commands(healthy(0.1), command("resume")), 6 * MINUTE)
    assert state.status is Status.RUNNING and state.step == 1
    assert snapshot_of(actions).snapshot.decision is Decision.ADVANCE
    assert "resumed by alice" in state.rationale


def test_pause_before_start_keeps_it_pending() -> None:
    state, _ = step(PLAN, PENDING, with_commands(Observations(), command("pause")), 0.0)
    assert state.status is Status.PAUSED and state.paused_from is Status.PENDING
    assert step(PLAN, state, Observations(), 1.0) == (state, ())
    state, _actions = step(PLAN, state, with_commands(Observations(), command("resume")), 2.0)
    assert state.status is Status.RUNNING and state.step == 0


def test_promote_skips_the_remaining_steps_with_a_reason() -> None:
    obs = with_commands(observe(0.1, total=2_000), command("promote", "dave", reason="CEO demo"))
    state, actions = step(PLAN, at_step(0), obs, 1.0)
    assert state.status is Status.PROMOTED
    promote = actions[0]
    assert isinstance(promote, Promote)
    assert promote.actor == "dave" and "CEO demo" in promote.reason


def test_promote_without_a_reason_cannot_be_asked() -> None:
    with pytest.raises(ValueError, match="reason"):
        command("promote")


# -- offline evaluation -----------------------------------------------------------------------


def test_required_eval_gates_the_first_exposure() -> None:
    plan = make_plan(requires_eval=SUITE)
    state, actions = step(plan, PENDING, Observations(), 0.0)
    assert state.status is Status.PENDING
    assert kinds(actions) == ["RecordSnapshot", "Alert"]
    assert actions[1].kind == "eval_missing"  # type: ignore[union-attr]
    assert step(plan, state, Observations(), 5.0) == (state, ())  # alerted once
    state, actions = step(plan, state, passed_eval(Observations()), 10.0)
    assert state.status is Status.RUNNING and state.started_at == 10.0


def test_shadow_may_run_before_the_eval_but_not_leave_without_it() -> None:
    plan = make_plan(requires_eval=SUITE, shadow=Shadow(0.2, 10))
    state, _ = step(plan, PENDING, Observations(), 0.0)
    assert state.status is Status.SHADOW
    state, _ = step(plan, state, Observations(shadow_pairs=10), 1.0)
    assert state.status is Status.SHADOW
    state, _ = step(plan, state, passed_eval(Observations(shadow_pairs=10)), 2.0)
    assert state.status is Status.RUNNING


def test_a_failed_eval_aborts_before_start_and_rolls_back_after() -> None:
    plan = make_plan(requires_eval=SUITE)
    state, _ = step(plan, PENDING, passed_eval(Observations(), passed=False), 0.0)
    assert state.status is Status.ABORTED
    state, actions = step(plan, at_step(0), passed_eval(healthy(0.1), passed=False), 1.0)
    assert state.status is Status.ROLLED_BACK and isinstance(actions[0], Rollback)


def test_promote_is_refused_until_the_required_eval_passed() -> None:
    plan = make_plan(requires_eval=SUITE)
    obs = with_commands(healthy(0.1), command("promote", reason="hurry"))
    state, actions = step(plan, at_step(0), obs, 1.0)
    assert state.status is Status.RUNNING
    assert [a.kind for a in actions if isinstance(a, Alert)] == ["refused"]
    state, _ = step(plan, at_step(0), passed_eval(obs), 1.0)
    assert state.status is Status.PROMOTED


# -- inconclusive, deadlines ------------------------------------------------------------------


def undecided(weight: float) -> Observations:
    """A harm between 0 and the margin, on too few units to tell which side it is."""
    return observe(weight, total=20_000, candidate_rate=0.115)


def test_inconclusive_at_the_end_of_a_step_holds_and_alerts_once() -> None:
    state = at_step(0)
    a = assess(PLAN, state, undecided(0.1), MINUTE)
    assert a.verdict is Verdict.INCONCLUSIVE
    state, actions = step(PLAN, state, undecided(0.1), MINUTE)
    assert state.status is Status.RUNNING and state.step == 0
    assert kinds(actions) == ["RecordSnapshot", "Alert"]
    assert actions[1].kind == "inconclusive"  # type: ignore[union-attr]
    assert snapshot_of(actions).snapshot.decision is Decision.HOLD
    assert step(PLAN, state, undecided(0.1), 2 * MINUTE) == (state, ())


def test_max_duration_holds_an_undecided_rollout_for_a_human() -> None:
    plan = make_plan(max_duration=10 * MINUTE)
    state, actions = step(plan, at_step(0), undecided(0.1), 10 * MINUTE)
    assert state.status is Status.HELD
    assert [a.kind for a in actions if isinstance(a, Alert)] == ["held"]
    # Held: passing evidence no longer advances it; a human promotes or rolls back.
    assert step(plan, state, healthy(0.1), 11 * MINUTE) == (state, ())
    state, actions = step(
        plan, state, with_commands(healthy(0.1), command("promote", reason="reviewed")), 12 * MINUTE
    )
    assert state.status is Status.PROMOTED


def test_max_duration_may_roll_back_instead() -> None:
    plan = make_plan(max_duration=10 * MINUTE, on_inconclusive=OnInconclusive.ROLLBACK)
    state, actions = step(plan, at_step(0), undecided(0.1), 10 * MINUTE)
    assert state.status is Status.ROLLED_BACK and isinstance(actions[0], Rollback)
    assert "max_duration" in actions[0].reason


def test_no_step_starts_after_the_deadline() -> None:
    plan = make_plan(max_duration=10 * MINUTE)
    state, actions = step(plan, at_step(0), healthy(0.1), 10 * MINUTE)
    assert state.status is Status.HELD and not any(isinstance(a, SetWeights) for a in actions)


def test_a_missing_metric_is_nodata_and_holds() -> None:
    obs = Observations(units=(360_000, 40_000))
    state, _ = step(PLAN, at_step(0), obs, MINUTE)
    assert state.step == 0 and state.status is Status.RUNNING
    assert assess(PLAN, at_step(0), obs, MINUTE).verdict is Verdict.NODATA


def test_an_aggregate_of_the_wrong_kind_is_an_error_that_alerts() -> None:
    obs = dataclasses.replace(
        healthy(0.1), metrics={"escalation": Arms(MeanStats(10, 1.0, 1.0), MeanStats(10, 1.0, 1.0))}
    )
    state, actions = step(PLAN, at_step(0), obs, MINUTE)
    assert state.step == 0
    assert next(a.kind for a in actions if isinstance(a, Alert)) == "measurement_error"


# -- terminal states, idempotency, snapshots --------------------------------------------------


@pytest.mark.parametrize("status", [Status.PROMOTED, Status.ROLLED_BACK, Status.ABORTED])
def test_terminal_states_do_nothing(status: Status) -> None:
    state = at_step(1, status=status)
    obs = dataclasses.replace(harmful(0.5), killed=True, commands=(command("rollback"),))
    assert reconcile(state, obs, 1e9, PLAN) == (state, ())


def test_a_crashed_driver_replays_the_same_actions_under_the_same_keys() -> None:
    before = at_step(0)
    after, actions = reconcile(before, healthy(0.1), MINUTE, PLAN)
    # The driver died before storing ``after``: it runs again from ``before``, later.
    again, replay = reconcile(before, healthy(0.1), MINUTE, PLAN)
    assert replay == actions and again == after
    keys = [a.idempotency_key for a in actions]
    assert len(set(keys)) == len(keys)
    # Once ``after`` is stored, the same evidence asks for nothing new.
    assert reconcile(after, healthy(0.5, total=1_000), MINUTE + 1, PLAN) == (after, ())


def test_keys_depend_on_rollout_step_and_action_not_on_time() -> None:
    _, early = reconcile(at_step(0), healthy(0.1), MINUTE, PLAN)
    _, late = reconcile(at_step(0), healthy(0.1), 50 * MINUTE, PLAN)
    assert early[0].idempotency_key == late[0].idempotency_key
    other = dataclasses.replace(at_step(0), rollout_id="agent-v2#2")
    _, rerun = reconcile(other, healthy(0.1), MINUTE, PLAN)
    assert rerun[0].idempotency_key == "agent-v2#2/step-1/set-weights"


def test_a_whole_rollout_never_repeats_a_key() -> None:
    plan = make_plan(shadow=Shadow(0.2, 10))
    state, seen, now = PENDING, [], 0.0
    script = [
        Observations(),
        Observations(shadow_pairs=10),
        healthy(0.1),
        healthy(0.5),
        with_commands(healthy(0.5), command("approve")),
    ]
    for obs in script:
        now += MINUTE
        state, actions = reconcile(state, obs, now, plan)
        seen += [a.idempotency_key for a in actions]
    assert state.status is Status.PROMOTED
    assert len(seen) == len(set(seen))
    assert state.revision == 5


def test_snapshots_carry_the_evidence() -> None:
    _, actions = reconcile(at_step(0), healthy(0.1), MINUTE, PLAN)
    snap = snapshot_of(actions).snapshot
    (e,) = snap.evidence
    assert e.metric == "escalation" and e.guardrail == "escalation margin 0.02"
    assert e.verdict is Verdict.PASS and e.method == "wilson-mover"
    assert e.stable is not None and e.candidate is not None
    assert (e.stable.n, e.candidate.n) == (360_000, 40_000)
    assert e.stable.low < e.stable.estimate < e.stable.high
    assert e.harm_low < e.harm < e.harm_high < e.margin  # type: ignore[operator]
    assert e.required is not None and e.sample_met
    assert {g.name for g in snap.gates} == {
        "guardrails",
        "srm",
        "sample",
        "min_units",
        "min_duration",
        "approval",
    }
    assert all(g.passed for g in snap.gates)
    assert snap.rationale == "step 0 passed all gates; advanced to 0.5"
    assert snap.flag == "agent" and snap.environment == "prod" and snap.at == MINUTE


# -- the remaining edges of the state diagram -------------------------------------------------

SHADOWING = RolloutState("agent-v2#1", status=Status.SHADOW, started_at=0.0, phase_started_at=0.0)
SHADOW_PLAN = make_plan(shadow=Shadow(0.2, 1_000), max_duration=10 * MINUTE)


def test_shadow_can_pause_resume_and_be_promoted() -> None:
    paused, _ = step(SHADOW_PLAN, SHADOWING, with_commands(Observations(), command("pause")), 1.0)
    assert paused.status is Status.PAUSED and paused.paused_from is Status.SHADOW
    assert step(SHADOW_PLAN, paused, Observations(shadow_pairs=5_000), 2.0) == (paused, ())
    resumed, _ = step(SHADOW_PLAN, paused, with_commands(Observations(), command("resume")), 3.0)
    assert resumed.status is Status.SHADOW
    obs = with_commands(Observations(), command("promote", reason="shadow looked perfect"))
    promoted, actions = step(SHADOW_PLAN, SHADOWING, obs, 4.0)
    assert promoted.status is Status.PROMOTED and isinstance(actions[0], Promote)


def test_a_shadow_phase_that_never_finishes_is_held_at_the_deadline() -> None:
    state, actions = step(SHADOW_PLAN, SHADOWING, Observations(shadow_pairs=10), 10 * MINUTE)
    assert state.status is Status.HELD and state.step is None
    assert [a.kind for a in actions if isinstance(a, Alert)] == ["held"]


def test_a_pause_while_awaiting_approval_resumes_into_the_gates() -> None:
    waiting = at_step(1, status=Status.AWAITING_APPROVAL, approved=frozenset())
    paused, _ = step(PLAN, waiting, with_commands(healthy(0.5), command("pause")), MINUTE)
    assert paused.paused_from is Status.AWAITING_APPROVAL
    resumed, _ = step(PLAN, paused, with_commands(healthy(0.5), command("resume")), 2 * MINUTE)
    assert resumed.status is Status.AWAITING_APPROVAL  # the gates decided again at once


def test_held_can_pause_and_resume_into_held() -> None:
    held = at_step(0, status=Status.HELD)
    paused, _ = step(PLAN, held, with_commands(healthy(0.1), command("pause")), 1.0)
    assert paused.status is Status.PAUSED and paused.paused_from is Status.HELD
    back, _ = step(PLAN, paused, with_commands(healthy(0.1), command("resume")), 2.0)
    assert back.status is Status.HELD


def test_a_paused_rollout_can_be_promoted() -> None:
    paused = at_step(0, status=Status.PAUSED, paused_from=Status.RUNNING)
    obs = with_commands(healthy(0.1), command("promote", reason="incident was unrelated"))
    state, _ = step(PLAN, paused, obs, 1.0)
    assert state.status is Status.PROMOTED and state.paused_from is None


def test_commands_that_do_not_apply_change_nothing() -> None:
    running = at_step(0)
    obs = with_commands(observe(0.1, total=2_000), command("resume"))
    assert step(PLAN, running, obs, 1.0) == (running, ())
    paused = at_step(0, status=Status.PAUSED, paused_from=Status.RUNNING)
    assert step(PLAN, paused, with_commands(healthy(0.1), command("pause")), 1.0) == (paused, ())
    approved = at_step(0, approved=frozenset({0}))
    obs = with_commands(
        observe(0.1, total=2_000), command("approve", step=0), command("approve", step=9)
    )
    assert step(PLAN, approved, obs, 1.0) == (approved, ())
