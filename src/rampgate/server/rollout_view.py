"""What an operator sees of a rollout: where it is, the traffic, each guardrail, the time left.

One function builds it from the store, for ``GET …/rollouts/{name}``, ``rampgate rollout status``
and the demo alike. The guardrails come from the latest snapshot — the evidence the last
decision rested on — so what is shown is exactly what the controller saw.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from rampgate.store.evidence import list_alerts, list_snapshots
from rampgate.store.rollouts import RolloutRecord, pending_commands

from .control_docs import plan_from_record, state_from_document

__all__ = ["rollout_view"]


def rollout_view(conn: Connection, record: RolloutRecord, now: float) -> dict[str, Any]:
    plan = plan_from_record(record)
    state = state_from_document(record.state)
    weights = dict(plan.weights(state.step)) if state.step is not None else None
    if state.status.value == "promoted":
        weights = dict(plan.weights(plan.last_step))
    elif state.status.value in ("rolled_back", "aborted") or state.step is None:
        weights = {plan.stable: 1.0, plan.candidate: 0.0}
    snapshots = list_snapshots(conn, record.id, limit=1)
    latest = snapshots[0].document if snapshots else None
    step = plan.steps[state.step] if state.step is not None else None
    ended = state.status.terminal
    return {
        "id": record.id,
        "name": record.name,
        "run": record.run,
        "environment": record.environment,
        "flag": record.flag,
        "stable": plan.stable,
        "candidate": plan.candidate,
        "status": str(state.status),
        "step": state.step,
        "steps": [s.weight for s in plan.steps],
        "traffic": weights,
        "shadow": (
            {"sample": plan.shadow.sample, "min_pairs": plan.shadow.min_pairs}
            if plan.shadow is not None
            else None
        ),
        "rationale": state.rationale,
        "revision": record.revision,
        "started_at": state.started_at,
        "phase_started_at": state.phase_started_at,
        # An ended run has no time left: its clocks would otherwise keep counting down.
        "time_left": {
            "step_min_duration": None
            if ended
            else _left(state.phase_started_at, step.min_duration if step else None, now),
            "max_duration": None if ended else _left(state.started_at, plan.max_duration, now),
        },
        "guardrails": latest.get("evidence", []) if latest else [],
        "gates": latest.get("gates", []) if latest else [],
        "srm": latest.get("srm") if latest else None,
        "latest_snapshot": latest.get("id") if latest else None,
        "alerts": [
            {"kind": a.kind, "level": a.level, "message": a.message, "at": a.created_at.isoformat()}
            for a in list_alerts(conn, record.id, limit=10)
        ],
        "pending_commands": [
            {"kind": c.kind, "actor": c.actor, "reason": c.reason}
            for c in pending_commands(conn, record.id)
        ],
        "plan": record.plan["plan"],
    }


def _left(since: float | None, duration: float | None, now: float) -> float | None:
    if since is None or duration is None:
        return None
    return max(0.0, since + duration - now)
