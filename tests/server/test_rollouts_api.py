"""The rollout API against a real server, on SQLite and PostgreSQL: create, status, operator
commands, eval results, the environment kill switch and the evidence.

The server runs with ``controller_interval=0``, so its own controller never runs; the tests
drive a :class:`Controller` over the same database and call :meth:`Controller.tick` when they
want a pass. Each effect is then checked after exactly one known pass — no sleeping, no race
with a background thread. (In production an accepted command wakes the server's controller.)
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy.engine import Engine

from rampgate import store
from rampgate.server.controller import Controller, Turn

from .conftest import AGENT
from .live import Live, running_server, tokens

PROBLEM = "application/problem+json"
PLAN: dict[str, Any] = {
    "flag": "agent",
    "from": "stable",
    "to": "candidate",
    "steps": [{"weight": 0.2, "approval": True}, {"weight": 0.5}, {"weight": 1.0}],
    "guardrails": [{"metric": "task_success", "margin": 0.05}],
}
ROLLOUTS = "/api/v1/environments/prod/rollouts"


@dataclass
class Ops:
    """A live server whose controller passes are the test's to call."""

    live: Live
    controller: Controller
    turns: list[Turn] = field(default_factory=list)

    @property
    def http(self) -> httpx.Client:
        return self.live.admin_client

    def tick(self) -> list[Turn]:
        turns = self.controller.tick()
        self.turns.extend(turns)
        return turns

    def put_flag(self, key: str = "agent", document: dict[str, Any] | None = None) -> None:
        response = self.http.put(f"/api/v1/environments/prod/flags/{key}", json=document or AGENT)
        assert response.status_code == 201, response.text

    def flag(self, key: str = "agent") -> dict[str, Any]:
        response = self.http.get(f"/api/v1/environments/prod/flags/{key}")
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()["document"]
        return document

    def rule(self, name: str, key: str = "agent") -> dict[str, Any] | None:
        return next((r for r in self.flag(key)["rules"] if r["id"] == f"rollout:{name}"), None)

    def start(self, name: str = "agent-v2", plan: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.http.post(ROLLOUTS, json={"name": name, "plan": plan or PLAN})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def status(self, name: str = "agent-v2") -> dict[str, Any]:
        response = self.http.get(f"{ROLLOUTS}/{name}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def command(self, kind: str, name: str = "agent-v2", **body: Any) -> httpx.Response:
        return self.http.post(f"{ROLLOUTS}/{name}/{kind}", json=body)

    def traffic(self, users: int, rates: dict[str, float], *, seed: int = 1) -> None:
        """``users`` new users split by the live weights, each succeeding at its arm's rate,
        sent as an agent service sends them (SDK token)."""
        rng = random.Random(seed)
        share = self.status()["traffic"]["candidate"]
        now = int(time.time() * 1000)
        events = []
        for i in range(users):
            user, arm = f"u{seed}-{i}", ("candidate" if rng.random() < share else "stable")
            events.append(_event(now, user, type="exposure", flag="agent", variant=arm))
            if rng.random() < rates[arm]:
                events.append(_event(now + 1, user, type="event", name="task_success", value=1))
        response = self.live.client(self.live.sdk).post("/api/v1/events", json={"events": events})
        assert response.status_code == 200, response.text
        time.sleep(0.002)  # the next pass's "now" is after these events


def _event(time_ms: int, user: str, **fields: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "time_ms": time_ms, "user_id": user, **fields}


@pytest.fixture
def ops(engine: Engine) -> Iterator[Ops]:
    admin, sdk = tokens(engine)
    with running_server(engine, controller_interval=0) as url:
        live = Live(url, engine, admin, sdk)
        yield Ops(live, Controller(engine))
        live.close()


def problem(response: httpx.Response, status: int, field_: str) -> dict[str, Any]:
    """Assert a problem+json answer naming ``field_``, with a fix; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    fields = {e["field"]: e for e in body["errors"]}
    assert field_ in fields, body
    assert fields[field_]["fix"], body
    return body


def test_a_rollout_starts_pending_and_runs_at_step_0_after_a_pass(ops: Ops) -> None:
    ops.put_flag()
    created = ops.start()
    assert created["rollout"] == "agent-v2#1"
    receipt = created["receipt"]
    assert receipt["change_id"] and receipt["action"] == "rollout.create"
    assert receipt["resource"] == "environments/prod/rollouts/agent-v2"

    pending = ops.status()
    assert pending["status"] == "pending" and pending["step"] is None
    assert pending["traffic"] == {"stable": 1.0, "candidate": 0.0}
    assert ops.rule("agent-v2") is None, "nothing changes before the controller's pass"

    (turn,) = ops.tick()
    assert (turn.status, turn.step) == ("running", 0)
    running = ops.status()
    assert running["status"] == "running" and running["step"] == 0
    assert running["traffic"] == {"stable": 0.8, "candidate": 0.2}
    assert running["latest_snapshot"] == turn.snapshot_id
    rule = ops.rule("agent-v2")
    assert rule is not None and rule["split"]["weights"] == {"stable": 0.8, "candidate": 0.2}
    # Under the targeted staff rule, above the old catch-all canary.
    assert [r["id"] for r in ops.flag()["rules"]] == ["staff", "rollout:agent-v2", "canary"]

    listed = ops.http.get(ROLLOUTS).json()
    assert [(r["id"], r["status"]) for r in listed] == [("agent-v2#1", "running")]


def test_operator_commands_are_accepted_then_applied_at_the_next_pass(ops: Ops) -> None:
    ops.put_flag()
    ops.start()
    ops.tick()

    paused = ops.command("pause", reason="looking at a ticket")
    assert paused.status_code == 202, paused.text
    assert paused.json()["receipt"]["action"] == "rollout.pause"
    assert ops.status()["pending_commands"] == [
        {"kind": "pause", "actor": "token:tester", "reason": "looking at a ticket"}
    ]
    (turn,) = ops.tick()
    assert turn.status == "paused"
    assert ops.status()["status"] == "paused" and ops.status()["pending_commands"] == []

    assert ops.command("resume").status_code == 202
    ops.tick()
    assert ops.status()["status"] == "running"

    beyond = problem(ops.command("approve", step=99), 422, "step")
    assert "not 99" in beyond["detail"]
    approved = ops.command("approve", step=0)
    assert approved.status_code == 202 and approved.json()["receipt"]["detail"]["step"] == 0
    (turn,) = ops.tick()
    snapshot = ops.http.get(f"/api/v1/snapshots/{quote(turn.snapshot_id or '')}").json()
    assert snapshot["decision"] == "approve" and snapshot["actor"] == "token:tester"

    # Promote skips the remaining steps: without a reason it is refused, naming the field.
    problem(ops.command("promote"), 422, "reason")
    problem(ops.command("promote", reason="  "), 422, "reason")
    problem(ops.command("promote", reason="ok", step=1), 422, "step")
    problem(ops.command("pause", mode="soft"), 422, "mode")
    promoted = ops.command("promote", reason="incident review says ship it")
    assert promoted.status_code == 202, promoted.text
    ops.tick()
    status = ops.status()
    assert status["status"] == "promoted"
    assert status["traffic"] == {"stable": 0.0, "candidate": 1.0}
    assert status["time_left"] == {"step_min_duration": None, "max_duration": None}
    rule = ops.rule("agent-v2")
    assert rule is not None and rule["split"]["weights"] == {"stable": 0.0, "candidate": 1.0}

    # The run has ended: every further command is a conflict, and nothing is queued.
    for kind in ("pause", "resume", "approve", "rollback"):
        ended = problem(ops.command(kind), 409, "name")
        assert "promoted" in ended["detail"]
    assert ops.status()["pending_commands"] == []

    decisions = [s["decision"] for s in ops.http.get(f"{ROLLOUTS}/agent-v2/snapshots").json()]
    assert decisions == ["promote", "approve", "resume", "pause", "start"]


def test_rollback_ends_the_run_and_a_new_run_may_start(ops: Ops) -> None:
    ops.put_flag()
    ops.start()
    ops.tick()
    generation = ops.flag().get("pin_generation", 0)
    rolled = ops.command("rollback", mode="soft", reason="support tickets")
    assert rolled.status_code == 202, rolled.text
    assert rolled.json()["receipt"]["detail"]["mode"] == "soft"
    (turn,) = ops.tick()
    assert turn.status == "rolled_back" and turn.actions[0] == "Rollback"
    status = ops.status()
    assert status["status"] == "rolled_back"
    assert status["traffic"] == {"stable": 1.0, "candidate": 0.0}
    rule = ops.rule("agent-v2")
    assert rule is not None and rule["split"]["weights"] == {"stable": 1.0, "candidate": 0.0}
    # Soft: pinned sessions finish (the pin generation is not raised).
    assert ops.flag().get("pin_generation", 0) == generation
    problem(ops.command("pause"), 409, "name")

    again = ops.start()
    assert again["rollout"] == "agent-v2#2"
    assert ops.status()["status"] == "pending" and ops.status()["run"] == 2


def test_one_active_rollout_per_flag(ops: Ops) -> None:
    ops.put_flag()
    ops.start()
    other = ops.http.post(ROLLOUTS, json={"name": "agent-v3", "plan": PLAN})
    body = problem(other, 409, "plan.flag")
    assert "agent-v2" in body["detail"] and body["active"] == "agent-v2"
    problem(ops.http.post(ROLLOUTS, json={"name": "agent-v2", "plan": PLAN}), 409, "name")
    assert [r["name"] for r in ops.http.get(ROLLOUTS).json()] == ["agent-v2"]


@pytest.mark.parametrize(
    ("change", "field_"),
    [
        ({"steps": [{"weight": 0.5}, {"weight": 0.2}, {"weight": 1.0}]}, "plan.steps[1].weight"),
        ({"steps": [{"weight": 0.2}, {"weight": 0.5}]}, "plan.steps[1].weight"),
        (
            {"steps": [{"weight": 0.2, "min_duration": "soon"}, {"weight": 1}]},
            "plan.steps[0].min_duration",
        ),
        ({"to": "nope"}, "plan.to"),
        ({"from": "nope"}, "plan.from"),
        ({"to": "stable"}, "plan.to"),
        ({"flag": "nope"}, "plan.flag"),
        ({"environment": "staging"}, "plan.environment"),
        ({"guardrails": [{"metric": "nope", "margin": 0.1}]}, "plan.guardrails[0].metric"),
        ({"guardrails": []}, "plan.guardrails"),
        ({"on_inconclusive": "promote"}, "plan.on_inconclusive"),
        ({"colour": "red"}, "plan.colour"),
    ],
)
def test_plan_errors_name_their_path(ops: Ops, change: dict[str, Any], field_: str) -> None:
    ops.put_flag()
    response = ops.http.post(ROLLOUTS, json={"name": "bad", "plan": {**PLAN, **change}})
    problem(response, 422, field_)
    assert ops.http.get(ROLLOUTS).json() == [], "a refused plan created a rollout"


def test_custom_metrics_travel_with_the_plan(ops: Ops) -> None:
    ops.put_flag()
    bad = {"defect_rate": {"kind": "share", "event": "defect", "higher_is_better": False}}
    plan = {**PLAN, "guardrails": [{"metric": "defect_rate", "below": 0.02}]}
    problem(
        ops.http.post(ROLLOUTS, json={"name": "v", "plan": plan, "metrics": bad}),
        422,
        "metrics.defect_rate.kind",
    )
    good = {"defect_rate": {**bad["defect_rate"], "kind": "proportion"}}
    created = ops.http.post(ROLLOUTS, json={"name": "v", "plan": plan, "metrics": good})
    assert created.status_code == 201, created.text
    ops.tick()
    assert ops.status("v")["status"] == "running"


def test_a_required_eval_holds_the_start_until_it_passes(ops: Ops) -> None:
    ops.put_flag()
    ops.start(plan={**PLAN, "requires_eval": "support-regression"})
    ops.tick()
    assert ops.status()["status"] == "pending"

    evals = "/api/v1/environments/prod/flags/agent/evals"
    result = {"suite": "support-regression", "variant": "candidate", "passed": True}
    posted = ops.http.post(evals, json={**result, "detail": "412/412 cases"})
    assert posted.status_code == 201, posted.text
    assert posted.json()["eval"] and posted.json()["receipt"]["action"] == "eval.record"
    ops.tick()
    assert ops.status()["status"] == "running"

    problem(ops.http.post(evals, json={**result, "variant": "nope"}), 422, "variant")
    problem(ops.http.post(evals, json={**result, "suite": ""}), 422, "suite")
    missing = ops.http.post("/api/v1/environments/prod/flags/nope/evals", json=result)
    assert missing.status_code == 404, missing.text


def test_the_environment_kill_switch_kills_every_flag_and_aborts_the_rollout(ops: Ops) -> None:
    ops.put_flag()
    ops.put_flag("other")
    ops.start()
    ops.tick()
    killed = ops.http.post("/api/v1/environments/prod/kill", json={"reason": "incident 42"})
    assert killed.status_code == 200, killed.text
    receipts = killed.json()["receipts"]
    assert sorted(r["resource"] for r in receipts) == [
        "environments/prod/flags/agent",
        "environments/prod/flags/other",
    ]
    assert all(r["change_id"] and r["action"] == "flag.kill" for r in receipts)
    assert ops.flag()["killed"] and ops.flag("other")["killed"]
    # SDKs see it at once: every flag of the ruleset serves its safe variant.
    ruleset = ops.live.client(ops.live.sdk).get("/api/v1/sdk/ruleset").json()
    assert ruleset["version"] == killed.json()["detail"]["ruleset_version"]

    (turn,) = ops.tick()
    assert turn.status == "aborted"
    status = ops.status()
    assert status["status"] == "aborted"
    assert status["traffic"] == {"stable": 1.0, "candidate": 0.0}
    assert any(a["kind"] == "aborted" for a in status["alerts"])
    snapshot = ops.http.get(f"{ROLLOUTS}/agent-v2/snapshots").json()[0]
    assert snapshot["decision"] == "abort" and snapshot["actor"] == "kill-switch"

    # Killing again changes nothing; unkill revives every flag (the rollout stays ended).
    assert ops.http.post("/api/v1/environments/prod/kill", json={}).json()["receipts"] == []
    revived = ops.http.post("/api/v1/environments/prod/unkill", json={})
    assert revived.status_code == 200 and len(revived.json()["receipts"]) == 2
    assert not ops.flag().get("killed") and not ops.flag("other").get("killed")
    assert ops.status()["status"] == "aborted"
    nowhere = ops.http.post("/api/v1/environments/nowhere/kill", json={})
    assert nowhere.status_code == 404, nowhere.text


def test_snapshots_hold_the_evidence_of_each_decision(ops: Ops) -> None:
    ops.put_flag()
    ops.start()
    ops.tick()
    ops.traffic(400, {"stable": 0.6, "candidate": 0.6})
    assert ops.command("pause", reason="read the numbers").status_code == 202
    (turn,) = ops.tick()

    snapshots = ops.http.get(f"{ROLLOUTS}/agent-v2/snapshots").json()
    latest = snapshots[0]
    assert latest["decision"] == "pause"
    assert latest["id"] == turn.snapshot_id and latest["actor"] == "token:tester"
    (evidence,) = latest["evidence"]
    assert evidence["metric"] == "task_success" and evidence["margin"] == 0.05
    assert evidence["stable"]["n"] + evidence["candidate"]["n"] == 400
    assert evidence["harm_low"] <= evidence["harm"] <= evidence["harm_high"]
    assert evidence["verdict"] in {"PASS", "INCONCLUSIVE"} and evidence["method"]
    assert {g["name"] for g in latest["gates"]} >= {"guardrails", "srm", "sample", "approval"}
    assert sum(latest["srm"]["observed"]) == 400 and not latest["srm"]["flagged"]

    # The status shows the same evidence; one snapshot reads back unchanged by its id.
    assert ops.status()["guardrails"] == latest["evidence"]
    one = ops.http.get(f"/api/v1/snapshots/{quote(latest['id'])}")
    assert one.status_code == 200 and one.json() == latest
    start = snapshots[-1]
    assert start["decision"] == "start" and start["receipts"], "the start cites its flag change"
    receipt = ops.http.get(f"/api/v1/receipts/{start['receipts'][0]}").json()
    assert receipt["detail"]["snapshot_id"] == start["id"]
    assert ops.http.get("/api/v1/snapshots/nope%231/snapshot/0").status_code == 404


def test_a_retried_command_is_applied_once(ops: Ops) -> None:
    ops.put_flag()
    ops.start()
    ops.tick()
    headers = {"Idempotency-Key": "pause-once"}
    first = ops.http.post(f"{ROLLOUTS}/agent-v2/pause", json={}, headers=headers)
    second = ops.http.post(f"{ROLLOUTS}/agent-v2/pause", json={}, headers=headers)
    assert first.status_code == second.status_code == 202
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert first.json() == second.json()
    assert len(ops.status()["pending_commands"]) == 1


def test_unknown_rollouts_are_404(ops: Ops) -> None:
    for response in (
        ops.http.get(f"{ROLLOUTS}/nope"),
        ops.http.get(f"{ROLLOUTS}/nope/snapshots"),
        ops.command("pause", "nope"),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"].startswith(PROBLEM)
    assert ops.http.post(f"{ROLLOUTS}/nope/explode", json={}).status_code == 422
    with store.read(ops.live.engine) as conn:
        assert store.verify(conn).ok
