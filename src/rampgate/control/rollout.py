"""The rollout controller: ``reconcile(state, observations, now, plan) -> (state, actions)``.

Pure: it reads the values it is given and returns values; the driver performs the actions. The
order of checks is the policy, top to bottom — the first that applies wins:

1. **kill switch** → ``ABORTED`` with a hard ``Rollback`` (no analysis at all);
2. **operator rollback** → ``ROLLED_BACK`` (``ABORTED`` while still pending), skipping analysis;
3. **guardrail FAIL** on any guardrail → ``ROLLED_BACK`` — guardrail-first: before any other
   gate, command or talk of lift, paused or not;
4. **SRM alarm** → ``ROLLED_BACK``: a broken split makes every comparison suspect;
5. **required eval failed** → ``ROLLED_BACK`` (``ABORTED`` while pending);
6. operator **pause / resume / approve / promote** (promote needs a reason and a passed eval);
7. paused or held: nothing moves;
8. **gates**: advance (or promote at the last step), await approval, or hold — and at
   ``max_duration`` without a decision, ``on_inconclusive``: hold (``HELD``) or roll back.
   ``INCONCLUSIVE`` never promotes.

Every reconcile that changes anything returns exactly one :class:`RecordSnapshot` explaining it;
a rollback is always the first action of its batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .actions import (
    Action,
    Alert,
    AlertLevel,
    Promote,
    RecordSnapshot,
    Rollback,
    SetShadow,
    SetWeights,
)
from .evidence import Decision, Snapshot
from .gates import Assessment, assess, describe
from .observations import Command, CommandKind, Observations
from .plan import OnInconclusive, RollbackMode, RolloutPlan
from .state import RolloutState, Status

__all__ = ["CONTROLLER", "reconcile", "set_weights_key"]

CONTROLLER = "controller"
"""The actor named in snapshots and actions the controller decides by itself."""


def set_weights_key(rollout_id: str, step: int) -> str:
    """The idempotency key under which a run moves the flag to ``step``'s weights: the flag
    version it made is where that step's evidence starts."""
    return f"{rollout_id}/step-{step}/set-weights"


@dataclass
class _Turn:
    """One reconcile in progress: the state as it changes, actions, and the story so far."""

    plan: RolloutPlan
    before: RolloutState
    now: float
    state: RolloutState
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    decision: Decision | None = None
    actor: str = CONTROLLER
    assessment: Assessment | None = None

    def key(self, *parts: str) -> str:
        return "/".join((self.state.rollout_id, *parts))

    def decide(self, decision: Decision, note: str, actor: str = CONTROLLER) -> None:
        self.decision = decision
        self.actor = actor
        self.notes.append(note)

    def move(self, status: Status, **changes: Any) -> None:
        self.state = replace(self.state, status=status, **changes)

    def alert(self, kind: str, level: AlertLevel, message: str) -> None:
        key = self.key(self.state.phase, "alert", kind)
        if key in self.state.alerted:
            return
        self.actions.append(Alert(self.plan.name, kind, level, message, key))
        self.state = replace(self.state, alerted=self.state.alerted | {key})
        if self.decision is None:
            self.decision = Decision.HOLD
        self.notes.append(message)

    @property
    def snapshot_id(self) -> str:
        return self.key("snapshot", str(self.before.revision))

    def finish(self) -> tuple[RolloutState, tuple[Action, ...]]:
        if self.state == self.before and not self.actions:
            return self.before, ()
        a = self.assessment
        before = self.before
        rationale = "; ".join(self.notes) or "state updated"
        state = replace(
            self.state, revision=before.revision + 1, rationale=rationale, updated_at=self.now
        )
        snapshot = Snapshot(
            id=self.snapshot_id,
            rollout=self.plan.name,
            rollout_id=before.rollout_id,
            flag=self.plan.flag,
            environment=self.plan.environment,
            at=self.now,
            decision=self.decision or Decision.HOLD,
            rationale=rationale,
            actor=self.actor,
            status_from=str(before.status),
            status_to=str(state.status),
            step_from=before.step,
            step_to=state.step,
            weights=self.plan.weights(before.step),
            evidence=a.evidence if a else (),
            srm=a.srm if a else None,
            gates=a.gates if a else (),
        )
        # A rollback goes first; the snapshot that explains a batch goes after its changes.
        first = [x for x in self.actions if isinstance(x, Rollback)]
        rest = [x for x in self.actions if not isinstance(x, Rollback)]
        record = RecordSnapshot(snapshot, snapshot.id)
        alerts = [x for x in rest if isinstance(x, Alert)]
        changes = [x for x in rest if not isinstance(x, Alert)]
        return state, (*first, *changes, record, *alerts)


def reconcile(
    state: RolloutState, observations: Observations, now: float, plan: RolloutPlan
) -> tuple[RolloutState, tuple[Action, ...]]:
    """One step of the control loop: the new state and the actions the driver must perform.

    Deterministic: the same inputs always give the same state and the same actions with the same
    idempotency keys. ``now`` is seconds on whatever clock the driver uses, consistently.
    """
    if state.status.terminal:
        return state, ()
    turn = _Turn(plan, state, now, state)
    _run(turn, observations)
    return turn.finish()


def _run(turn: _Turn, obs: Observations) -> None:
    plan, state = turn.plan, turn.state
    if obs.killed:
        _end(turn, Status.ABORTED, RollbackMode.HARD, "kill switch is on", "kill-switch")
        return
    rollback = next((c for c in obs.commands if c.kind is CommandKind.ROLLBACK), None)
    if rollback is not None:
        status = Status.ABORTED if state.phase == "pending" else Status.ROLLED_BACK
        reason = f"rollback by {rollback.actor}" + _why(rollback)
        _end(turn, status, rollback.mode or plan.rollback, reason, rollback.actor)
        return
    # Approvals only open a gate, so they are applied before measuring; acting comes later.
    approvals = _approvals(turn, obs.commands)
    if approvals:
        turn.state = replace(turn.state, approved=turn.state.approved | approvals)
    a = assess(plan, turn.state, obs, turn.now)
    if state.live:
        turn.assessment = a
        if a.failed:
            why = "; ".join(describe(e) for e in a.failed)
            _end(turn, Status.ROLLED_BACK, plan.rollback, f"guardrail failed: {why}", CONTROLLER)
            return
        if a.srm_alarm and a.srm is not None:
            _end(
                turn,
                Status.ROLLED_BACK,
                plan.rollback,
                f"sample ratio mismatch: units {a.srm.observed} against weights "
                f"{plan.weights(state.step)} (p = {a.srm.p_value:.2g} < {a.srm.threshold:g})",
                CONTROLLER,
            )
            return
    result = obs.evals.get(plan.requires_eval) if plan.requires_eval else None
    if result is not None and not result.passed:
        status = Status.ABORTED if state.phase == "pending" else Status.ROLLED_BACK
        _end(turn, status, plan.rollback, f"required eval {result.suite} failed", CONTROLLER)
        return
    for command in obs.commands:
        if _command(turn, command, a):
            return
    if turn.state.status in (Status.PAUSED, Status.HELD):
        return
    if turn.state.status is Status.PENDING:
        _start(turn, a)
        return
    _gates(turn, a)


def _approvals(turn: _Turn, commands: tuple[Command, ...]) -> frozenset[int]:
    out: set[int] = set()
    for c in commands:
        if c.kind is CommandKind.APPROVE:
            step = c.step if c.step is not None else turn.state.step
            valid = step is not None and 0 <= step < len(turn.plan.steps)
            if step is not None and valid and step not in turn.state.approved | out:
                out.add(step)
                turn.decide(Decision.APPROVE, f"step {step} approved by {c.actor}", c.actor)
    return frozenset(out)


def _command(turn: _Turn, c: Command, a: Assessment) -> bool:
    """Apply one pause/resume/promote; True when the rollout ended."""
    state = turn.state
    if c.kind is CommandKind.PAUSE and state.status is not Status.PAUSED:
        turn.move(Status.PAUSED, paused_from=state.status)
        turn.decide(Decision.PAUSE, f"paused by {c.actor}" + _why(c), c.actor)
    elif c.kind is CommandKind.RESUME and state.status is Status.PAUSED:
        back = state.paused_from or Status.RUNNING
        if back is Status.AWAITING_APPROVAL:
            back = Status.RUNNING  # the gates decide again whether approval is what is missing
        turn.move(back, paused_from=None)
        turn.decide(Decision.RESUME, f"resumed by {c.actor}" + _why(c), c.actor)
    elif c.kind is CommandKind.PROMOTE:
        eval_gate = next((g for g in a.gates if g.name == "eval"), None)
        if eval_gate is not None and not eval_gate.passed:
            turn.alert(
                "refused",
                AlertLevel.WARNING,
                f"promote by {c.actor} refused: required eval has not passed ({eval_gate.detail})",
            )
            return False
        _promote(turn, f"promoted by {c.actor}: {c.reason}", c.actor)
        return True
    return False


def _why(c: Command) -> str:
    return f": {c.reason}" if c.reason else ""


def _end(turn: _Turn, status: Status, mode: RollbackMode, reason: str, actor: str) -> None:
    plan = turn.plan
    turn.actions.append(
        Rollback(
            flag=plan.flag,
            environment=plan.environment,
            variant=plan.stable,
            weights=((plan.stable, 1.0), (plan.candidate, 0.0)),
            mode=mode,
            reason=reason,
            actor=actor,
            idempotency_key=turn.key("rollback"),
            snapshot_id=turn.snapshot_id,
        )
    )
    decision = Decision.ABORT if status is Status.ABORTED else Decision.ROLLBACK
    turn.decide(decision, reason, actor)
    turn.move(status, paused_from=None)
    level = AlertLevel.CRITICAL if actor == CONTROLLER else AlertLevel.WARNING
    turn.actions.append(
        Alert(plan.name, str(status), level, f"{plan.name}: {status}: {reason}", turn.key("alert"))
    )


def _promote(turn: _Turn, reason: str, actor: str) -> None:
    plan = turn.plan
    weights = plan.weights(plan.last_step)
    turn.actions.append(
        Promote(
            flag=plan.flag,
            environment=plan.environment,
            variant=plan.candidate,
            weights=weights,
            reason=reason,
            actor=actor,
            idempotency_key=turn.key("promote"),
            snapshot_id=turn.snapshot_id,
        )
    )
    turn.decide(Decision.PROMOTE, reason, actor)
    turn.move(Status.PROMOTED, step=plan.last_step, paused_from=None)


def _set_weights(turn: _Turn, step: int) -> None:
    plan = turn.plan
    turn.actions.append(
        SetWeights(
            flag=plan.flag,
            environment=plan.environment,
            weights=plan.weights(step),
            step=step,
            idempotency_key=set_weights_key(turn.state.rollout_id, step),
            snapshot_id=turn.snapshot_id,
        )
    )
    turn.move(Status.RUNNING, step=step, phase_started_at=turn.now)


def _set_shadow(turn: _Turn, sample: float, what: str) -> None:
    plan = turn.plan
    turn.actions.append(
        SetShadow(
            flag=plan.flag,
            environment=plan.environment,
            variant=plan.candidate,
            sample=sample,
            idempotency_key=turn.key("shadow", what),
            snapshot_id=turn.snapshot_id,
        )
    )


def _start(turn: _Turn, a: Assessment) -> None:
    """Leave ``PENDING``: into shadow, or — once the required eval has passed — the first step."""
    plan = turn.plan
    if plan.shadow is not None:
        _set_shadow(turn, plan.shadow.sample, "start")
        turn.move(Status.SHADOW, started_at=turn.now, phase_started_at=turn.now)
        turn.decide(Decision.START, f"shadow {plan.candidate} on {plan.shadow.sample:g} of calls")
        return
    if not a.ready():
        turn.alert("eval_missing", AlertLevel.INFO, f"waiting to start: {_blocking(a)}")
        return
    _set_weights(turn, 0)
    turn.state = replace(turn.state, started_at=turn.now)
    turn.decide(Decision.START, f"started at {plan.steps[0].weight:g}")


def _blocking(a: Assessment, ignore: tuple[str, ...] = ()) -> str:
    return "; ".join(
        f"{g.name}: {g.detail}" for g in a.gates if not g.passed and g.name not in ignore
    )


def _gates(turn: _Turn, a: Assessment) -> None:
    plan, state = turn.plan, turn.state
    turn.assessment = a
    if _deadline(turn):
        return
    if a.errors:
        turn.alert(
            "measurement_error",
            AlertLevel.WARNING,
            "cannot measure: " + "; ".join(describe(e) for e in a.errors),
        )
    if a.ready():
        _advance(turn)
        return
    step = plan.steps[state.step] if state.step is not None else None
    if step is not None and step.approval and a.ready(ignore=("approval",)):
        if state.status is not Status.AWAITING_APPROVAL:
            turn.move(Status.AWAITING_APPROVAL)
            turn.decide(Decision.AWAIT_APPROVAL, f"step {state.step}: all gates pass")
        turn.alert(
            "approval_needed",
            AlertLevel.INFO,
            f"step {state.step} at {step.weight:g} is ready and waits for approval",
        )
        return
    if state.status is Status.AWAITING_APPROVAL:
        turn.move(Status.RUNNING)
        turn.decide(Decision.HOLD, f"step {state.step} no longer ready: {_blocking(a)}")
    if a.waiting:
        turn.alert(
            "inconclusive",
            AlertLevel.WARNING,
            f"{a.phase} is past its min_duration and still undecided, holding: {_blocking(a)}",
        )


def _deadline(turn: _Turn) -> bool:
    """At ``max_duration`` and not finished: hold for a human, or roll back. Never promote.

    Checked before the gates: no new step starts after the deadline, approvals included.
    """
    plan, state = turn.plan, turn.state
    started = state.started_at
    if plan.max_duration is None or started is None or turn.now - started < plan.max_duration:
        return False
    a = turn.assessment
    reason = f"max_duration reached without a decision ({_blocking(a) if a else 'undecided'})"
    if plan.on_inconclusive is OnInconclusive.ROLLBACK:
        _end(turn, Status.ROLLED_BACK, plan.rollback, reason, CONTROLLER)
        return True
    turn.move(Status.HELD)
    turn.decide(Decision.HOLD, reason)
    turn.alert("held", AlertLevel.WARNING, f"held for a human to promote or roll back: {reason}")
    return True


def _advance(turn: _Turn) -> None:
    plan, state = turn.plan, turn.state
    if state.step is None:  # the shadow phase passed
        _set_weights(turn, 0)
        _set_shadow(turn, 0.0, "stop")
        turn.decide(Decision.ADVANCE, f"shadow passed; started at {plan.steps[0].weight:g}")
        return
    nxt = state.step + 1
    if nxt == plan.last_step:
        _promote(turn, f"all gates passed at step {state.step}", CONTROLLER)
        return
    _set_weights(turn, nxt)
    turn.decide(
        Decision.ADVANCE,
        f"step {state.step} passed all gates; advanced to {plan.steps[nxt].weight:g}",
    )
