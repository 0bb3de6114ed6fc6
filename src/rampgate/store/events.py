"""Exposures and outcome events, stored once each however often the SDK sends them.

SDKs deliver at least once: a batch whose response was lost is sent again. Every event carries
the SDK's UUIDv7-shaped id and the table's primary key is that id, so ``INSERT … ON CONFLICT
(id) DO NOTHING`` turns the repeats into no-ops — exactly-once effect. ``RETURNING id`` tells
which rows went in, so the API can report ``inserted`` and ``duplicates`` honestly.

Rows go in as multi-row ``INSERT`` statements of ``batch_size`` rows (SQLAlchemy's
"insertmanyvalues"), one round trip per batch on both databases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import insert_ignoring_conflicts
from .schema import events, utcnow

__all__ = ["EVENT_FIELDS", "IngestResult", "count_events", "insert_events"]

# What a stored event holds besides ``received_at`` (set by the store): the SDK record's keys.
EVENT_FIELDS = (
    "id",
    "environment",
    "type",
    "time_ms",
    "user_id",
    "session_id",
    "flag",
    "variant",
    "reason",
    "rule_id",
    "flag_version",
    "name",
    "value",
    "properties",
)


class IngestResult(NamedTuple):
    inserted: int
    duplicates: int


def _row(
    record: Mapping[str, Any], environment: str | None, received_at: datetime
) -> dict[str, Any]:
    row = {name: record.get(name) for name in EVENT_FIELDS}
    if environment is not None:
        row["environment"] = environment
    row["received_at"] = received_at
    return row


def insert_events(
    conn: Connection,
    rows: Iterable[Mapping[str, Any]],
    *,
    environment: str | None = None,
    received_at: datetime | None = None,
    batch_size: int = 1000,
) -> IngestResult:
    """Store events not seen before; return how many went in and how many were repeats.

    ``rows`` are SDK records (the keys of :data:`EVENT_FIELDS`; missing keys are NULL),
    already validated by the caller. ``environment``, when given, overrides each row's
    (the API passes the SDK key's environment, so a key cannot write into another).
    """
    received_at = received_at or utcnow()
    pending: dict[str, dict[str, Any]] = {}
    total = 0
    for record in rows:
        total += 1
        row = _row(record, environment, received_at)
        # A repeat inside the batch is a duplicate too; keep the first.
        pending.setdefault(str(row["id"]), row)
    inserted = 0
    values = list(pending.values())
    statement = insert_ignoring_conflicts(conn, events).returning(events.c.id)
    for start in range(0, len(values), max(1, batch_size)):
        chunk = values[start : start + batch_size]
        inserted += len(conn.execute(statement, chunk).all())
    return IngestResult(inserted, total - inserted)


def count_events(
    conn: Connection,
    *,
    environment: str | None = None,
    type: str | None = None,
    name: str | None = None,
    flag: str | None = None,
) -> int:
    """How many events are stored, optionally only of one environment, type, name or flag."""
    query = sa.select(sa.func.count()).select_from(events)
    for column, value in (
        (events.c.environment, environment),
        (events.c.type, type),
        (events.c.name, name),
        (events.c.flag, flag),
    ):
        if value is not None:
            query = query.where(column == value)
    return int(conn.execute(query).scalar_one())
