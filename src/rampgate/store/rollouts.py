"""Rollout runs, their operator commands, and the controller's compare-and-swap on their state.

The store keeps a run's plan and state as documents it does not interpret (it may not import
``control``); the server parses them. What the store guarantees:

- **One active run per flag** in an environment, checked under the write lock on create.
- **A state write is a compare-and-swap on ``revision``**: two controllers that both reconcile
  the same turn cannot both commit — the second gets :class:`VersionConflict` and its whole
  transaction (flag changes, snapshot, receipts) rolls back with it.
- **Commands are queued, not applied**: an operator's pause or rollback is a row the next
  reconcile reads and marks consumed with the revision it produced, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .audit import lock_writes
from .environments import check_key, get_environment
from .errors import AlreadyExists, NotFound, VersionConflict
from .receipts import Receipt, new_change_id, record_change
from .schema import rollout_commands, rollouts, utcnow

__all__ = [
    "CommandRecord",
    "RolloutRecord",
    "add_command",
    "consume_commands",
    "create_rollout",
    "get_rollout",
    "list_rollouts",
    "pending_commands",
    "rollout_resource",
    "save_rollout_state",
]


def rollout_resource(environment: str, name: str) -> str:
    return f"environments/{environment}/rollouts/{name}"


@dataclass(frozen=True, slots=True)
class RolloutRecord:
    id: str
    environment: str
    name: str
    run: int
    flag: str
    plan: dict[str, Any]
    state: dict[str, Any]
    status: str
    active: bool
    revision: int
    created_by: str
    created_at: datetime
    updated_at: datetime

    @property
    def resource(self) -> str:
        return rollout_resource(self.environment, self.name)


@dataclass(frozen=True, slots=True)
class CommandRecord:
    id: str
    rollout_id: str
    kind: str
    actor: str
    reason: str
    step: int | None
    mode: str | None
    change_id: str
    created_at: datetime
    consumed_revision: int | None


def _record(row: sa.Row[Any]) -> RolloutRecord:
    m = row._mapping
    return RolloutRecord(**{k: m[k] for k in RolloutRecord.__slots__})


def create_rollout(
    conn: Connection,
    environment: str,
    name: str,
    *,
    flag: str,
    plan: Mapping[str, Any],
    initial_state: Callable[[str], Mapping[str, Any]],
    status: str,
    actor: str,
    idempotency_key: str | None = None,
) -> tuple[RolloutRecord, Receipt]:
    """Start a new run of rollout ``name``; its id is ``{name}#{run}``.

    ``initial_state(rollout_id)`` gives the first state document: the id is known only here.

    ``AlreadyExists`` while another run of the same name, or any run on the same flag, is
    active: two plans moving one flag's weights at once would undo each other.
    """
    check_key(name, what="rollout")
    lock_writes(conn)
    get_environment(conn, environment)
    active = conn.execute(
        sa.select(rollouts.c.name).where(
            rollouts.c.environment == environment,
            rollouts.c.active.is_(True),
            sa.or_(rollouts.c.name == name, rollouts.c.flag == flag),
        )
    ).first()
    if active is not None:
        raise AlreadyExists(rollout_resource(environment, active.name))
    # Runs are numbered per name across environments: the id, "{name}#{run}", is global (it
    # prefixes idempotency keys and snapshot ids), so prod and staging must not both have #1.
    last = conn.execute(
        sa.select(sa.func.max(rollouts.c.run)).where(rollouts.c.name == name)
    ).scalar_one()
    run = int(last or 0) + 1
    rollout_id = f"{name}#{run}"
    now = utcnow()
    values = {
        "id": rollout_id,
        "environment": environment,
        "name": name,
        "run": run,
        "flag": flag,
        "plan": dict(plan),
        "state": dict(initial_state(rollout_id)),
        "status": status,
        "active": True,
        "revision": 0,
        "created_by": actor,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(rollouts.insert().values(**values))
    receipt = record_change(
        conn,
        actor=actor,
        action="rollout.create",
        resource=rollout_resource(environment, name),
        after_version=0,
        idempotency_key=idempotency_key,
        detail={"environment": environment, "rollout_id": values["id"], "flag": flag},
        now=now,
    )
    return RolloutRecord(**values), receipt  # type: ignore[arg-type]


def get_rollout(
    conn: Connection, environment: str, name: str, *, run: int | None = None
) -> RolloutRecord:
    """The latest run of ``name`` (or run ``run``); ``NotFound`` if there is none."""
    query = sa.select(rollouts).where(
        rollouts.c.environment == environment, rollouts.c.name == name
    )
    if run is not None:
        query = query.where(rollouts.c.run == run)
    row = conn.execute(query.order_by(rollouts.c.run.desc()).limit(1)).first()
    if row is None:
        raise NotFound(rollout_resource(environment, name))
    return _record(row)


def list_rollouts(
    conn: Connection, environment: str | None = None, *, active_only: bool = False
) -> list[RolloutRecord]:
    """Runs, newest first; the controller asks for the active ones of every environment."""
    query = sa.select(rollouts)
    if environment is not None:
        query = query.where(rollouts.c.environment == environment)
    if active_only:
        query = query.where(rollouts.c.active.is_(True))
    rows = conn.execute(query.order_by(rollouts.c.created_at.desc(), rollouts.c.id))
    return [_record(row) for row in rows]


def save_rollout_state(
    conn: Connection,
    record: RolloutRecord,
    *,
    state: Mapping[str, Any],
    status: str,
    active: bool,
) -> RolloutRecord:
    """Replace the state if it is still at ``record.revision``; the new revision is one more."""
    now = utcnow()
    result = conn.execute(
        rollouts.update()
        .where(rollouts.c.id == record.id, rollouts.c.revision == record.revision)
        .values(
            state=dict(state),
            status=status,
            active=active,
            revision=record.revision + 1,
            updated_at=now,
        )
    )
    if result.rowcount != 1:
        current = conn.execute(
            sa.select(rollouts.c.revision).where(rollouts.c.id == record.id)
        ).scalar_one_or_none()
        if current is None:
            raise NotFound(record.resource)
        raise VersionConflict(record.resource, expected=record.revision, current=int(current))
    return RolloutRecord(
        **{
            **{k: getattr(record, k) for k in RolloutRecord.__slots__},
            "state": dict(state),
            "status": status,
            "active": active,
            "revision": record.revision + 1,
            "updated_at": now,
        }
    )


def add_command(
    conn: Connection,
    record: RolloutRecord,
    *,
    kind: str,
    actor: str,
    reason: str = "",
    step: int | None = None,
    mode: str | None = None,
    idempotency_key: str | None = None,
) -> Receipt:
    """Queue an operator command for the next reconcile; the receipt proves it was accepted."""
    change_id = new_change_id()
    now = utcnow()
    conn.execute(
        rollout_commands.insert().values(
            id=new_change_id(),
            rollout_id=record.id,
            kind=kind,
            actor=actor,
            reason=reason,
            step=step,
            mode=mode,
            change_id=change_id,
            created_at=now,
            consumed_revision=None,
        )
    )
    return record_change(
        conn,
        actor=actor,
        action=f"rollout.{kind}",
        resource=record.resource,
        before_version=record.revision,
        idempotency_key=idempotency_key,
        detail={
            "environment": record.environment,
            "rollout_id": record.id,
            "reason": reason,
            "step": step,
            "mode": mode,
            "applied": "at the next reconcile",
        },
        change_id=change_id,
        now=now,
    )


def pending_commands(conn: Connection, rollout_id: str) -> list[CommandRecord]:
    """Commands not yet read by a reconcile, in arrival order."""
    rows = conn.execute(
        sa.select(rollout_commands)
        .where(
            rollout_commands.c.rollout_id == rollout_id,
            rollout_commands.c.consumed_revision.is_(None),
        )
        .order_by(rollout_commands.c.created_at, rollout_commands.c.id)
    )
    return [CommandRecord(**{k: r._mapping[k] for k in CommandRecord.__slots__}) for r in rows]


def consume_commands(conn: Connection, ids: list[str], revision: int) -> None:
    """Mark commands as read by the reconcile that produced ``revision``."""
    if ids:
        conn.execute(
            rollout_commands.update()
            .where(rollout_commands.c.id.in_(ids), rollout_commands.c.consumed_revision.is_(None))
            .values(consumed_revision=revision)
        )
