"""Perform one reconcile's actions inside the caller's write transaction.

Everything a turn does commits together or not at all: the new rollout state (a compare-and-
swap on its revision), the commands it read, the flag changes with their receipts and audit
rows, the snapshot that explains them, and the alerts. A crash before the commit leaves the old
state, and the next reconcile decides the same turn again with the same idempotency keys; a
crash after it leaves nothing to redo. Each flag change also claims its idempotency key in the
``controller`` scope, so an action can never be applied twice even by a controller that read a
stale state — it finds the key taken and the stored receipt.

The rollout owns one rule of the flag, ``rollout:{name}``: a two-variant split (stable first,
the candidate last, coverage 1). It is inserted before the first rule that matches everyone,
so targeted rules above it (staff first, say) keep their precedence, and then only its weights
change: a unit in the canary at 5% stays in it at 25%.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.engine import Connection

from rampgate.config import flag_from_document
from rampgate.control import (
    Action,
    Alert,
    Promote,
    RecordSnapshot,
    Rollback,
    RollbackMode,
    RolloutPlan,
    RolloutState,
    SetShadow,
    SetWeights,
)
from rampgate.domain.model import Flag, Rule, ShadowConfig, Split
from rampgate.store.errors import NotFound
from rampgate.store.evidence import record_alert, record_snapshot
from rampgate.store.flag_changes import update_flag
from rampgate.store.flags import current_flag, flag_resource
from rampgate.store.idempotency import claim, remember, request_fingerprint
from rampgate.store.receipts import record_change
from rampgate.store.rollouts import (
    CommandRecord,
    RolloutRecord,
    consume_commands,
    save_rollout_state,
)

from .control_docs import jsonable, state_to_document

__all__ = ["Performed", "before_catch_all", "perform", "rule_id"]

SCOPE = "controller"


def rule_id(plan: RolloutPlan) -> str:
    return f"rollout:{plan.name}"


@dataclass
class Performed:
    """What one turn wrote: for the push, the post-state check and the caller's report."""

    record: RolloutRecord
    receipts: list[dict[str, Any]] = field(default_factory=list)
    snapshot_id: str | None = None
    ruleset_version: int | None = None
    # The flag version and rule weights the turn meant to leave behind (None: no flag change).
    intended: tuple[int, tuple[tuple[str, float], ...] | None] | None = None


def perform(
    conn: Connection,
    plan: RolloutPlan,
    record: RolloutRecord,
    state: RolloutState,
    actions: tuple[Action, ...],
    *,
    commands: list[CommandRecord],
) -> Performed:
    """Save ``state`` (compare-and-swap), then perform ``actions`` in order."""
    saved = save_rollout_state(
        conn,
        record,
        state=state_to_document(state),
        status=str(state.status),
        active=not state.status.terminal,
    )
    consume_commands(conn, [c.id for c in commands], saved.revision)
    done = Performed(saved)
    for action in actions:
        if isinstance(action, SetWeights | Promote | Rollback | SetShadow):
            _flag_change(conn, plan, action, done)
        elif isinstance(action, RecordSnapshot):
            _snapshot(conn, record, action, done)
        elif isinstance(action, Alert):
            record_alert(
                conn,
                action.idempotency_key,
                record.id,
                kind=action.kind,
                level=str(action.level),
                message=action.message,
            )
    return done


def _snapshot(
    conn: Connection, record: RolloutRecord, action: RecordSnapshot, done: Performed
) -> None:
    snap = action.snapshot
    document = {**jsonable(snap), "receipts": [r["change_id"] for r in done.receipts]}
    if record_snapshot(conn, snap.id, record.id, document):
        receipt = record_change(
            conn,
            actor=snap.actor,
            action=f"rollout.{snap.decision}",
            resource=record.resource,
            before_version=record.revision,
            after_version=done.record.revision,
            idempotency_key=action.idempotency_key,
            detail={
                "environment": record.environment,
                "rollout_id": record.id,
                "status_from": snap.status_from,
                "status_to": snap.status_to,
                "step_from": snap.step_from,
                "step_to": snap.step_to,
                "snapshot_id": snap.id,
                "rationale": snap.rationale,
            },
        )
        done.receipts.append(receipt.to_json())
    done.snapshot_id = snap.id


def _flag_change(
    conn: Connection,
    plan: RolloutPlan,
    action: SetWeights | Promote | Rollback | SetShadow,
    done: Performed,
) -> None:
    key = action.idempotency_key
    fingerprint = request_fingerprint("CONTROL", key, jsonable(action))
    if claim(conn, key, SCOPE, fingerprint) is not None:
        return  # applied by an earlier turn: its receipt is already stored
    current = current_flag(conn, plan.environment, plan.flag)
    if current is None:
        raise NotFound(flag_resource(plan.environment, plan.flag))
    flag = flag_from_document(plan.flag, current.document)
    weights = None if isinstance(action, SetShadow) else action.weights
    changed = _changed(flag, plan, action)
    hard = isinstance(action, Rollback) and action.mode is RollbackMode.HARD
    receipt = update_flag(
        conn,
        plan.environment,
        changed,
        expected_version=current.version,
        actor=getattr(action, "actor", SCOPE),
        raise_pin_generation=hard,
        idempotency_key=key,
        detail={
            "rollout": plan.name,
            "snapshot_id": action.snapshot_id,
            "controller_action": type(action).__name__,
            "reason": getattr(action, "reason", ""),
        },
    )
    document = receipt.to_json()
    remember(conn, key, SCOPE, fingerprint, status_code=200, response=document)
    done.receipts.append(document)
    done.ruleset_version = int(receipt.detail["ruleset_version"])
    if receipt.after_version is not None:
        done.intended = (receipt.after_version, weights)


def _changed(
    flag: Flag, plan: RolloutPlan, action: SetWeights | Promote | Rollback | SetShadow
) -> Flag:
    if isinstance(action, SetShadow):
        shadow = ShadowConfig(action.variant, action.sample) if action.sample > 0 else None
        return replace(flag, shadow=shadow)
    split = Split(weights=dict(action.weights), unit=plan.unit)
    rule = Rule(id=rule_id(plan), split=split)
    rules = list(flag.rules)
    at = next((i for i, r in enumerate(rules) if r.id == rule.id), None)
    if at is not None:
        rules[at] = rule
    else:
        rules.insert(before_catch_all(rules), rule)
    changed = replace(flag, rules=tuple(rules))
    if isinstance(action, Rollback):
        changed = replace(changed, shadow=None)  # out of all traffic, shadow included
    return changed


def before_catch_all(rules: Sequence[Rule]) -> int:
    """Where a managed rule (a rollout's, an experiment's) goes: before the first rule that
    every unit matches, since nothing after that one is ever reached; else last."""
    return next((i for i, r in enumerate(rules) if _matches_everyone(r)), len(rules))


def _matches_everyone(rule: Rule) -> bool:
    """A rule no unit falls through: nothing placed after it would ever be reached."""
    if rule.condition or rule.prerequisites or rule.portion is not None:
        return False
    split = rule.split
    return split is None or (
        split.coverage >= 1.0 and split.namespace is None and not split.filters
    )
