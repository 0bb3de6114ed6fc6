"""The audit log: append-only, hash-chained, and checkable by anyone with read access.

Each row's ``hash`` is ``sha256(prev_hash + canonical_json(row))``, where the row is its
``seq``, time, actor, action, resource, change id and detail, and ``prev_hash`` is the hash of
the row before (64 zeros for the first). Editing, inserting or deleting a row breaks every link
after it; :func:`verify` walks the chain and names the first broken one.

Appends are serialised by locking the single ``audit_head`` row (``SELECT … FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already holds the write lock), so two concurrent
changes can never both extend the same head and fork the chain. Every change in the store takes
that lock first (:func:`lock_writes`), which also gives every transaction the same lock order —
no deadlocks between changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import GENESIS_HASH, audit_head, audit_log, utcnow

__all__ = [
    "AuditEntry",
    "VerifyResult",
    "append",
    "canonical_json",
    "entry_hash",
    "list_audit",
    "lock_writes",
    "verify",
]


def canonical_json(value: Any) -> str:
    """One spelling per JSON value: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(
    prev_hash: str,
    *,
    seq: int,
    created_at: datetime,
    actor: str,
    action: str,
    resource: str,
    change_id: str | None,
    detail: Any,
) -> str:
    """The hash a row must carry, given its fields and its predecessor's hash."""
    body = canonical_json(
        {
            "seq": seq,
            "created_at": _timestamp(created_at),
            "actor": actor,
            "action": action,
            "resource": resource,
            "change_id": change_id,
            "detail": detail,
        }
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    created_at: datetime
    actor: str
    action: str
    resource: str
    change_id: str | None
    detail: Any
    prev_hash: str
    hash: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "created_at": _timestamp(self.created_at),
            "actor": self.actor,
            "action": self.action,
            "resource": self.resource,
            "change_id": self.change_id,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of :func:`verify`: ``ok``, or the first broken ``seq`` and why."""

    ok: bool
    rows_checked: int
    first_broken_seq: int | None = None
    reason: str = ""
    head_hash: str = GENESIS_HASH

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows_checked": self.rows_checked,
            "first_broken_seq": self.first_broken_seq,
            "reason": self.reason,
            "head_hash": self.head_hash,
        }


# The statements every change runs, built once (building one costs more than running it).
_LOCK_HEAD = (
    sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1).with_for_update()
)
_INSERT_ENTRY = audit_log.insert()
_MOVE_HEAD = audit_head.update().where(audit_head.c.id == 1)


def lock_writes(conn: Connection) -> tuple[int, str]:
    """Take the store's write lock (the chain head) for the rest of the transaction.

    Call it first in any transaction that changes rampgate state and appends to the log;
    the store's own repositories do. Returns the head ``(seq, hash)``.
    """
    row = conn.execute(_LOCK_HEAD).one_or_none()
    if row is None:
        raise RuntimeError("audit_head is missing: run rampgate.store.migrate.upgrade() first")
    return int(row.seq), str(row.hash)


def append(
    conn: Connection,
    *,
    actor: str,
    action: str,
    resource: str,
    change_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEntry:
    """Append one row to the chain, inside the caller's transaction."""
    seq, prev_hash = lock_writes(conn)
    seq += 1
    created_at = now or utcnow()
    # Round-trip through JSON first: what is hashed is exactly what will be read back.
    clean = json.loads(canonical_json(dict(detail))) if detail is not None else None
    digest = entry_hash(
        prev_hash,
        seq=seq,
        created_at=created_at,
        actor=actor,
        action=action,
        resource=resource,
        change_id=change_id,
        detail=clean,
    )
    conn.execute(
        _INSERT_ENTRY,
        {
            "seq": seq,
            "created_at": created_at,
            "actor": actor,
            "action": action,
            "resource": resource,
            "change_id": change_id,
            "detail": clean,
            "prev_hash": prev_hash,
            "hash": digest,
        },
    )
    conn.execute(_MOVE_HEAD, {"seq": seq, "hash": digest})
    return AuditEntry(seq, created_at, actor, action, resource, change_id, clean, prev_hash, digest)


def _entry(row: sa.Row[Any]) -> AuditEntry:
    return AuditEntry(
        seq=int(row.seq),
        created_at=row.created_at,
        actor=row.actor,
        action=row.action,
        resource=row.resource,
        change_id=row.change_id,
        detail=row.detail,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def verify(conn: Connection, *, batch_size: int = 1000) -> VerifyResult:
    """Walk the whole chain and report the first broken link, if any.

    Reads the log and the head in one statement, so the check sees one consistent state even
    while changes are being appended (and does not block them).
    """
    statement = (
        sa.select(
            audit_head.c.seq.label("head_seq"),
            audit_head.c.hash.label("head_hash"),
            *audit_log.c,
        )
        .select_from(audit_head.outerjoin(audit_log, sa.true()))
        .where(audit_head.c.id == 1)
        .order_by(audit_log.c.seq)
        .execution_options(yield_per=batch_size)
    )
    # Closed on every exit: on PostgreSQL this is a server-side cursor.
    with conn.execute(statement) as rows:
        return _walk(rows)


def _walk(rows: Iterable[Any]) -> VerifyResult:
    checked = 0
    prev = GENESIS_HASH
    head_seq: int | None = None
    recorded_head = GENESIS_HASH
    for row in rows:
        head_seq, recorded_head = int(row.head_seq), str(row.head_hash)
        if row.seq is None:  # empty log: the outer join yields the head alone
            break
        entry = _entry(row)
        expected_seq = checked + 1
        if entry.seq != expected_seq:
            return _broken(
                checked,
                expected_seq,
                f"row {expected_seq} is missing (the next row is {entry.seq})",
            )
        if entry.prev_hash != prev:
            return _broken(
                checked,
                entry.seq,
                f"row {entry.seq} does not link to row {entry.seq - 1}: prev_hash differs",
            )
        recomputed = entry_hash(
            prev,
            seq=entry.seq,
            created_at=entry.created_at,
            actor=entry.actor,
            action=entry.action,
            resource=entry.resource,
            change_id=entry.change_id,
            detail=entry.detail,
        )
        if recomputed != entry.hash:
            return _broken(
                checked,
                entry.seq,
                f"row {entry.seq} was altered: its contents do not match its hash",
            )
        prev = entry.hash
        checked += 1
        if checked > head_seq:
            return _broken(
                checked - 1,
                entry.seq,
                f"row {entry.seq} is past the head (row {head_seq}): rampgate never appended it",
            )
    if head_seq is None:
        raise RuntimeError("audit_head is missing: run rampgate.store.migrate.upgrade() first")
    if checked < head_seq:
        return _broken(
            checked,
            checked + 1,
            f"the log ends at row {checked}, the head at row {head_seq}: rows were cut off",
        )
    if recorded_head != prev:
        return _broken(checked, head_seq, "the chain head's hash does not match the last row")
    return VerifyResult(ok=True, rows_checked=checked, head_hash=prev)


def _broken(checked: int, seq: int, reason: str) -> VerifyResult:
    return VerifyResult(ok=False, rows_checked=checked, first_broken_seq=seq, reason=reason)


def list_audit(
    conn: Connection,
    *,
    actor: str | None = None,
    action: str | None = None,
    resource_prefix: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int = 0,
    limit: int = 100,
) -> list[AuditEntry]:
    """Entries in chain order, filtered; page with ``after_seq`` = the last ``seq`` seen."""
    query = sa.select(audit_log).where(audit_log.c.seq > after_seq)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    if resource_prefix:
        query = query.where(audit_log.c.resource.startswith(resource_prefix, autoescape=True))
    if since is not None:
        query = query.where(audit_log.c.created_at >= since)
    if until is not None:
        query = query.where(audit_log.c.created_at < until)
    rows = conn.execute(query.order_by(audit_log.c.seq).limit(max(0, limit)))
    return [_entry(row) for row in rows]
