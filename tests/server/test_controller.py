"""The rollout driver over a real store, on SQLite and PostgreSQL: no HTTP, a hand-moved clock.

Events are written straight into the events table, drawn so that each arm has the outcome rates
a test wants; the controller reads them with the store's analysis SQL exactly as in production.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rampgate.config import flag_from_document
from rampgate.control import RolloutState
from rampgate.domain.model import Flag
from rampgate.server.control_docs import plan_from_record, state_from_document, state_to_document
from rampgate.server.controller import Controller, Leadership
from rampgate.server.observe import observe
from rampgate.store import (
    create_engine,
    create_environment,
    create_flag,
    db,
    insert_events,
    kill_flag,
    verify,
)
from rampgate.store.evidence import get_snapshot, list_alerts, list_snapshots, record_eval
from rampgate.store.flags import get_flag
from rampgate.store.rollouts import add_command, create_rollout, get_rollout
from rampgate.store.schema import idempotency, receipts

FLAG = {
    "variants": {"stable": {"model": "a"}, "candidate": {"model": "b"}},
    "default": "stable",
    "rules": [{"id": "staff", "when": {"staff": True}, "serve": "candidate"}],
}
PLAN: dict[str, Any] = {
    "environment": "prod",
    "flag": "agent",
    "from": "stable",
    "to": "candidate",
    "steps": [
        {"weight": 0.2, "min_duration": 60, "min_units": 200},
        {"weight": 0.5, "min_duration": 60, "min_units": 200},
        {"weight": 1.0},
    ],
    "guardrails": [
        {"metric": "task_success", "margin": 0.10},
        {"metric": "escalation", "margin": 0.10},
    ],
}


class World:
    """A store with one flag and a rollout on it, a clock, and a way to make traffic."""

    def __init__(self, engine: Engine, plan: dict[str, Any] | None = None) -> None:
        self.engine = engine
        self.now = 1_000_000.0
        self.rng = random.Random(7)
        self.unit = 0
        with db.write(engine) as conn:
            create_environment(conn, "prod", actor="test")
            create_flag(conn, "prod", flag_from_document("agent", FLAG), actor="test")
            record, _ = create_rollout(
                conn,
                "prod",
                "agent-v2",
                flag="agent",
                plan={"plan": plan or PLAN, "metrics": None},
                initial_state=lambda rid: state_to_document(RolloutState(rid)),
                status="pending",
                actor="test",
            )
        self.rollout_id = record.id
        self.published: list[tuple[str, int]] = []
        self.controller = Controller(
            engine, clock=lambda: self.now, publish=lambda e, v: self.published.append((e, v))
        )

    def flag(self) -> Flag:
        with db.read(self.engine) as conn:
            record = get_flag(conn, "prod", "agent")
        return flag_from_document("agent", record.document)

    def weights(self) -> dict[str, float]:
        rule = next(r for r in self.flag().rules if r.id == "rollout:agent-v2")
        assert rule.split is not None
        return dict(rule.split.weights)

    def state(self) -> dict[str, Any]:
        with db.read(self.engine) as conn:
            return get_rollout(conn, "prod", "agent-v2").state

    def traffic(
        self,
        units: int,
        rates: dict[str, dict[str, float]],
        *,
        version: int | None = None,
        weights: dict[str, float] | None = None,
    ) -> None:
        """``units`` new users split by ``weights`` (the live ones if not given), each with
        outcomes at the arm's rates. With ``version``, exposures are labelled as the SDK labels
        them at that flag version (served by the rollout's rule); without, they carry no labels.
        """
        weights = weights if weights is not None else self.weights()
        label = {} if version is None else {"flag_version": version, "rule_id": "rollout:agent-v2"}
        rows = []
        t = int(self.now * 1000)
        for _ in range(units):
            self.unit += 1
            user = f"u{self.unit}"
            arm = "candidate" if self.rng.random() < weights.get("candidate", 0.0) else "stable"
            rows.append(_row(t, user, type="exposure", flag="agent", variant=arm, **label))
            for name, p in rates[arm].items():
                if self.rng.random() < p:
                    rows.append(_row(t + 1, user, type="event", name=name, value=1.0))
        with db.write(self.engine) as conn:
            insert_events(conn, rows, environment="prod")

    def advance(self, seconds: float) -> list[Any]:
        self.now += seconds
        return self.controller.tick()


def _row(t: int, user: str, **fields: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "time_ms": t, "user_id": user, **fields}


SAME = {"task_success": 0.6, "escalated": 0.1}
HEALTHY = {"stable": SAME, "candidate": SAME}
HARMFUL = {"stable": SAME, "candidate": {"task_success": 0.6, "escalated": 0.4}}


def test_a_healthy_candidate_climbs_every_step_and_is_promoted(engine: Engine) -> None:
    w = World(engine)
    (start,) = w.controller.tick()
    assert start.status == "running" and start.step == 0
    assert w.weights() == {"stable": 0.8, "candidate": 0.2}
    # The rollout's rule goes under the targeted rule, which keeps its precedence.
    assert [r.id for r in w.flag().rules] == ["staff", "rollout:agent-v2"]
    assert w.published and w.published[-1][0] == "prod"
    seen = []
    for _ in range(40):
        w.traffic(150, HEALTHY)
        for turn in w.advance(30):
            seen.append((turn.status, turn.step))
        if w.state()["status"] == "promoted":
            break
    assert w.state()["status"] == "promoted", seen
    assert ("running", 1) in seen
    assert w.weights() == {"stable": 0.0, "candidate": 1.0}
    with db.read(engine) as conn:
        snaps = list_snapshots(conn, w.rollout_id)
        assert verify(conn).ok
        n_receipts = conn.execute(
            sa.select(sa.func.count())
            .select_from(receipts)
            .where(receipts.c.idempotency_key.like(f"{w.rollout_id}/%"))
        ).scalar_one()
    decisions = [s.document["decision"] for s in reversed(snaps)]
    # Holds (a step past its min_duration without enough evidence yet) come and go in between.
    assert [d for d in decisions if d != "hold"] == ["start", "advance", "promote"]
    # Each snapshot cites the receipts of the changes it explains, and they exist.
    promote = snaps[0].document
    assert promote["receipts"] and {e["metric"] for e in promote["evidence"]} == {
        "task_success",
        "escalation",
    }
    # 3 flag changes + one transition receipt per snapshot, each under its own idempotency key.
    assert n_receipts == 3 + len(snaps)


def test_a_harmful_candidate_is_rolled_back_with_its_evidence(engine: Engine) -> None:
    w = World(engine)
    w.controller.tick()
    generation = w.flag().pin_generation
    for _ in range(40):
        w.traffic(150, HARMFUL)
        w.advance(30)
        if w.state()["status"] != "running":
            break
    state = w.state()
    assert state["status"] == "rolled_back"
    assert "escalation" in state["rationale"]
    assert w.weights() == {"stable": 1.0, "candidate": 0.0}
    assert w.flag().pin_generation == generation + 1  # hard rollback: pins dropped
    with db.read(engine) as conn:
        snap = list_snapshots(conn, w.rollout_id)[0].document
        alerts = list_alerts(conn, w.rollout_id)
    assert snap["decision"] == "rollback"
    escalation = next(e for e in snap["evidence"] if e["metric"] == "escalation")
    assert escalation["verdict"] == "FAIL" and escalation["harm_low"] > 0
    assert any(a.kind == "rolled_back" and a.level == "critical" for a in alerts)
    # The run is over: nothing more happens, and its record is inactive.
    assert w.advance(30) == []
    with db.read(engine) as conn:
        assert not get_rollout(conn, "prod", "agent-v2").active


def _exposures(
    w: World, units: int, variant: str, *, version: int | None, rule: str | None
) -> list[dict[str, Any]]:
    """``units`` new users exposed to ``variant``, labelled as the SDK labels them."""
    rows = []
    for _ in range(units):
        w.unit += 1
        rows.append(
            _row(
                int(w.now * 1000),
                f"u{w.unit}",
                type="exposure",
                flag="agent",
                variant=variant,
                flag_version=version,
                rule_id=rule,
            )
        )
    return rows


def test_a_step_counts_only_the_exposures_its_own_split_served(engine: Engine) -> None:
    w = World(engine)
    with db.read(engine) as conn:
        before = get_flag(conn, "prod", "agent").version
    w.controller.tick()  # step 0: the rollout's split, at a new flag version
    with db.read(engine) as conn:
        live = get_flag(conn, "prod", "agent").version
        record = get_rollout(conn, "prod", "agent-v2")
    assert live > before
    split = "rollout:agent-v2"
    w.now += 5
    rows = [
        # Served by the step's split: these are the step's evidence.
        *_exposures(w, 40, "stable", version=live, rule=split),
        *_exposures(w, 10, "candidate", version=live, rule=split),
        # An SDK not yet told of the change serves the old ruleset: everyone stable, no rule.
        *_exposures(w, 300, "stable", version=before, rule=None),
        # Staff get the candidate from their own rule, not by the split's coin; a default served
        # for want of a rule (a prerequisite failed, say) is not the split's either.
        *_exposures(w, 25, "candidate", version=live, rule="staff"),
        *_exposures(w, 9, "stable", version=live, rule=None),
        # Posted by hand without labels: counted by their time, as before versions were read.
        *_exposures(w, 7, "candidate", version=None, rule=None),
    ]
    with db.write(engine) as conn:
        insert_events(conn, rows, environment="prod")
    plan = plan_from_record(record)
    state = state_from_document(record.state)
    with db.read(engine) as conn:
        seen = observe(conn, plan, state, [], w.now + 1)
    assert seen.units == (40, 17)
    # A step with no set-weights on record: the version cannot filter, the rule still does.
    with db.read(engine) as conn:
        unknown = observe(conn, plan, replace(state, step=1), [], w.now + 1)
    assert unknown.units == (40, 17)


def test_exposures_at_the_previous_weights_do_not_roll_a_healthy_step_back(
    engine: Engine,
) -> None:
    """Stale SDKs keep serving the old weights for a while after each step: that is not SRM."""
    w = World(engine)
    w.controller.tick()
    for _ in range(40):
        with db.read(engine) as conn:
            live = get_flag(conn, "prod", "agent").version
        w.traffic(150, HEALTHY, version=live)
        # A third as many again from SDKs still on the previous version, all stable.
        w.traffic(50, HEALTHY, version=live - 1, weights={"stable": 1.0})
        w.advance(30)
        if w.state()["status"] != "running":
            break
    assert w.state()["status"] == "promoted", w.state()["rationale"]


def test_operator_commands_pause_resume_and_rollback(engine: Engine) -> None:
    w = World(engine)
    w.controller.tick()
    with db.write(engine) as conn:
        add_command(conn, get_rollout(conn, "prod", "agent-v2"), kind="pause", actor="alice")
    (turn,) = w.controller.tick()
    assert turn.status == "paused"
    with db.read(engine) as conn:
        snap = get_snapshot(conn, turn.snapshot_id or "").document
    assert snap["actor"] == "alice" and snap["decision"] == "pause"
    w.traffic(300, HEALTHY)
    assert all(t.status == "paused" for t in w.advance(120))  # nothing advances while paused
    with db.write(engine) as conn:
        record = get_rollout(conn, "prod", "agent-v2")
        add_command(conn, record, kind="resume", actor="alice")
        add_command(conn, record, kind="rollback", actor="bob", reason="customer complaint")
    (turn,) = w.controller.tick()
    assert turn.status == "rolled_back" and "customer complaint" in turn.rationale
    assert w.weights()["candidate"] == 0.0


def test_the_kill_switch_aborts_the_rollout(engine: Engine) -> None:
    w = World(engine)
    w.controller.tick()
    with db.write(engine) as conn:
        kill_flag(conn, "prod", "agent", actor="oncall")
    (turn,) = w.controller.tick()
    assert turn.status == "aborted" and "kill switch" in turn.rationale
    assert w.flag().killed  # the rollback never revives a killed flag


def test_a_required_eval_blocks_the_start_until_it_passes(engine: Engine) -> None:
    w = World(engine, {**PLAN, "requires_eval": "regression"})
    assert [t.status for t in w.controller.tick()] == ["pending"]  # alert: waiting for the eval
    assert w.controller.tick() == []  # the alert is raised once
    with db.write(engine) as conn:
        record_eval(
            conn,
            "prod",
            flag="agent",
            variant="candidate",
            suite="regression",
            passed=True,
            detail="212/212",
            actor="ci",
        )
    (turn,) = w.controller.tick()
    assert turn.status == "running" and turn.step == 0


def test_two_controllers_never_apply_one_turn_twice(engine: Engine) -> None:
    w = World(engine)
    other = Controller(engine, clock=lambda: w.now)
    first = w.controller.tick()
    assert len(first) == 1 and other.tick() == []  # the turn is taken; nothing left to do
    with db.read(engine) as conn:
        keys = (
            conn.execute(sa.select(idempotency.c.key).where(idempotency.c.scope == "controller"))
            .scalars()
            .all()
        )
    assert keys == [f"{w.rollout_id}/step-0/set-weights"]


@pytest.mark.parametrize("mode", ["soft"])
def test_a_soft_rollback_keeps_the_pins(engine: Engine, mode: str) -> None:
    w = World(engine, {**PLAN, "rollback": mode})
    w.controller.tick()
    generation = w.flag().pin_generation
    with db.write(engine) as conn:
        add_command(conn, get_rollout(conn, "prod", "agent-v2"), kind="rollback", actor="bob")
    w.controller.tick()
    assert w.flag().pin_generation == generation


def test_one_controller_leads_on_postgresql_and_another_takes_over(
    postgres_engine: Engine,
) -> None:
    first, second = Leadership(postgres_engine), Leadership(postgres_engine)
    try:
        assert first.acquire() and first.acquire()  # keeps the lead while its session lives
        assert not second.acquire()  # stands by
        first.release()  # the leader dies: its session, and so the advisory lock, ends
        assert second.acquire()
        assert not first.acquire()
    finally:
        first.release()
        second.release()


def test_every_process_may_act_on_sqlite(tmp_path: Path) -> None:
    """One host, one file: the state's compare-and-swap is what keeps turns single."""
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert Leadership(engine).acquire() and Leadership(engine).acquire()
    engine.dispose()
