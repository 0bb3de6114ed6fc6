"""What decisions rest on: immutable snapshots, offline-evaluation results, and alerts.

Snapshots are append-only (a database trigger refuses ``UPDATE`` and ``DELETE``) and keyed by
an id the controller derives from the run and its revision, so writing one twice — a replayed
turn after a crash — is a no-op, not a second copy. Alerts are keyed by the controller's
idempotency key for the same reason: each is raised once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import insert_if_absent
from .environments import get_environment
from .errors import NotFound
from .receipts import Receipt, record_change
from .schema import alerts, eval_results, snapshots, utcnow

__all__ = [
    "AlertRecord",
    "EvalRecord",
    "SnapshotRecord",
    "get_snapshot",
    "latest_evals",
    "list_alerts",
    "list_snapshots",
    "record_alert",
    "record_eval",
    "record_snapshot",
]


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    id: str
    subject: str
    document: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EvalRecord:
    id: str
    environment: str
    flag: str
    variant: str
    suite: str
    passed: bool
    detail: str
    actor: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AlertRecord:
    id: str
    subject: str
    kind: str
    level: str
    message: str
    created_at: datetime


def _make(cls: Any, row: sa.Row[Any]) -> Any:
    return cls(**{k: row._mapping[k] for k in cls.__slots__})


def record_snapshot(
    conn: Connection, snapshot_id: str, subject: str, document: Mapping[str, Any]
) -> bool:
    """Store a snapshot once; ``False`` if one with this id exists (it is never replaced)."""
    return insert_if_absent(
        conn,
        snapshots,
        {"id": snapshot_id, "subject": subject, "document": dict(document), "created_at": utcnow()},
    )


def get_snapshot(conn: Connection, snapshot_id: str) -> SnapshotRecord:
    row = conn.execute(sa.select(snapshots).where(snapshots.c.id == snapshot_id)).first()
    if row is None:
        raise NotFound(f"snapshots/{snapshot_id}")
    result: SnapshotRecord = _make(SnapshotRecord, row)
    return result


def list_snapshots(conn: Connection, subject: str, *, limit: int = 100) -> list[SnapshotRecord]:
    """A subject's snapshots, newest first."""
    rows = conn.execute(
        sa.select(snapshots)
        .where(snapshots.c.subject == subject)
        .order_by(snapshots.c.created_at.desc(), snapshots.c.id.desc())
        .limit(max(0, limit))
    )
    return [_make(SnapshotRecord, row) for row in rows]


def record_eval(
    conn: Connection,
    environment: str,
    *,
    flag: str,
    variant: str,
    suite: str,
    passed: bool,
    detail: str,
    actor: str,
    idempotency_key: str | None = None,
) -> tuple[EvalRecord, Receipt]:
    """Record an offline-evaluation result for a flag's variant (newest result per suite wins)."""
    get_environment(conn, environment)
    now = utcnow()
    record = EvalRecord(
        str(uuid.uuid4()), environment, flag, variant, suite, passed, detail, actor, now
    )
    conn.execute(eval_results.insert().values(**{k: getattr(record, k) for k in record.__slots__}))
    receipt = record_change(
        conn,
        actor=actor,
        action="eval.record",
        resource=f"environments/{environment}/flags/{flag}/evals/{suite}",
        idempotency_key=idempotency_key,
        detail={
            "environment": environment,
            "eval_id": record.id,
            "variant": variant,
            "passed": passed,
            "detail": detail,
        },
        now=now,
    )
    return record, receipt


def latest_evals(
    conn: Connection, environment: str, flag: str, variant: str
) -> dict[str, EvalRecord]:
    """Suite → the newest result posted for this flag's variant."""
    rows = conn.execute(
        sa.select(eval_results)
        .where(
            eval_results.c.environment == environment,
            eval_results.c.flag == flag,
            eval_results.c.variant == variant,
        )
        .order_by(eval_results.c.created_at, eval_results.c.id)
    )
    out: dict[str, EvalRecord] = {}
    for row in rows:
        record: EvalRecord = _make(EvalRecord, row)
        out[record.suite] = record
    return out


def record_alert(
    conn: Connection, alert_id: str, subject: str, *, kind: str, level: str, message: str
) -> bool:
    """Store an alert once per id; ``True`` if it is new."""
    return insert_if_absent(
        conn,
        alerts,
        {
            "id": alert_id,
            "subject": subject,
            "kind": kind,
            "level": level,
            "message": message,
            "created_at": utcnow(),
        },
    )


def list_alerts(conn: Connection, subject: str, *, limit: int = 100) -> list[AlertRecord]:
    rows = conn.execute(
        sa.select(alerts)
        .where(alerts.c.subject == subject)
        .order_by(alerts.c.created_at.desc(), alerts.c.id)
        .limit(max(0, limit))
    )
    return [_make(AlertRecord, row) for row in rows]
