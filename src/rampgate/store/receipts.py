"""Receipts: the proof every change returns, written with its audit row in one transaction.

:func:`record_change` is the single way a change is recorded. Repositories call it at the end
of their transaction; code outside the store that changes rampgate state (rollouts,
experiments) calls it too, so every change has a ``change_id`` that leads from the API response
to the receipt and to the audit entry.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import audit
from .errors import NotFound
from .schema import receipts, utcnow

__all__ = [
    "Receipt",
    "find_receipt",
    "get_receipt",
    "list_receipts",
    "new_change_id",
    "record_change",
]


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof of one change: who did what to which resource, from which version to which."""

    change_id: str
    idempotency_key: str | None
    actor: str
    action: str
    resource: str
    before_version: int | None
    after_version: int | None
    created_at: datetime
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "change_id": self.change_id,
            "idempotency_key": self.idempotency_key,
            "actor": self.actor,
            "action": self.action,
            "resource": self.resource,
            "before_version": self.before_version,
            "after_version": self.after_version,
            "created_at": self.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "detail": dict(self.detail),
        }


_INSERT_RECEIPT = receipts.insert()  # built once: every change runs it


def record_change(
    conn: Connection,
    *,
    actor: str,
    action: str,
    resource: str,
    before_version: int | None = None,
    after_version: int | None = None,
    idempotency_key: str | None = None,
    detail: Mapping[str, Any] | None = None,
    change_id: str | None = None,
    now: datetime | None = None,
) -> Receipt:
    """Write the receipt and its audit row (in the caller's transaction) and return it.

    ``change_id`` may be chosen beforehand (:func:`new_change_id`) when rows written earlier in
    the transaction must cite it, as flag versions do.
    """
    if not actor:
        raise ValueError("a change needs an actor (who made it)")
    now = now or utcnow()
    change_id = change_id or new_change_id()
    clean: dict[str, Any] = json.loads(audit.canonical_json(dict(detail or {})))
    conn.execute(
        _INSERT_RECEIPT,
        {
            "change_id": change_id,
            "idempotency_key": idempotency_key,
            "actor": actor,
            "action": action,
            "resource": resource,
            "before_version": before_version,
            "after_version": after_version,
            "created_at": now,
            "detail": clean,
        },
    )
    audit.append(
        conn,
        actor=actor,
        action=action,
        resource=resource,
        change_id=change_id,
        detail={
            **clean,
            "before_version": before_version,
            "after_version": after_version,
            "idempotency_key": idempotency_key,
        },
        now=now,
    )
    return Receipt(
        change_id,
        idempotency_key,
        actor,
        action,
        resource,
        before_version,
        after_version,
        now,
        clean,
    )


def new_change_id() -> str:
    """A fresh change id (a random UUID)."""
    return str(uuid.uuid4())


def _receipt(row: sa.Row[Any]) -> Receipt:
    return Receipt(
        change_id=row.change_id,
        idempotency_key=row.idempotency_key,
        actor=row.actor,
        action=row.action,
        resource=row.resource,
        before_version=row.before_version,
        after_version=row.after_version,
        created_at=row.created_at,
        detail=row.detail or {},
    )


def get_receipt(conn: Connection, change_id: str) -> Receipt:
    """The receipt of one change (``NotFound`` if there is none)."""
    row = conn.execute(sa.select(receipts).where(receipts.c.change_id == change_id)).one_or_none()
    if row is None:
        raise NotFound(f"receipts/{change_id}")
    return _receipt(row)


def list_receipts(conn: Connection, resource: str, *, limit: int = 100) -> list[Receipt]:
    """The receipts of one resource, newest first."""
    rows = conn.execute(
        sa.select(receipts)
        .where(receipts.c.resource == resource)
        .order_by(receipts.c.created_at.desc(), receipts.c.change_id)
        .limit(max(0, limit))
    )
    return [_receipt(row) for row in rows]


def find_receipt(conn: Connection, resource: str, idempotency_key: str) -> Receipt | None:
    """The newest receipt of a change to ``resource`` made under ``idempotency_key``, if any."""
    row = conn.execute(
        sa.select(receipts)
        .where(receipts.c.resource == resource, receipts.c.idempotency_key == idempotency_key)
        .order_by(receipts.c.created_at.desc())
        .limit(1)
    ).one_or_none()
    return None if row is None else _receipt(row)
