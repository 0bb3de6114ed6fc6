"""Exposures and outcome events, stored once each however often the SDK sends them.

SDKs deliver at least once: a batch whose response was lost is sent again. Every event carries
the SDK's UUIDv7-shaped id and the table's primary key is that id, so ``INSERT … ON CONFLICT
(id) DO NOTHING`` turns the repeats into no-ops — exactly-once effect — and the count of rows
that went in lets the API report ``inserted`` and ``duplicates`` honestly.

A batch goes in through the driver's bulk path: a C-level ``executemany`` on SQLite, and
``COPY`` into a staging table followed by one ``INSERT … SELECT … ON CONFLICT`` on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import is_postgresql
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


_COLUMNS = (*EVENT_FIELDS, "received_at")
_COLUMN_LIST = ", ".join(_COLUMNS)
_STAGING = "rampgate_events_in"
# Once per connection in effect (IF NOT EXISTS), and per transaction-pooled server connection too.
_PG_STAGING = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} (LIKE events INCLUDING DEFAULTS) "
    "ON COMMIT DELETE ROWS"
)


def insert_events(
    conn: Connection,
    rows: Iterable[Mapping[str, Any]],
    *,
    environment: str | None = None,
    received_at: datetime | None = None,
    batch_size: int = 5000,
) -> IngestResult:
    """Store events not seen before; return how many went in and how many were repeats.

    ``rows`` are SDK records (the keys of :data:`EVENT_FIELDS`; missing keys are NULL),
    already validated by the caller. ``environment``, when given, overrides each row's
    (the API passes the SDK key's environment, so a key cannot write into another).
    Runs in the caller's transaction (and begins one if none is open).
    """
    received_at = received_at or utcnow()
    unique: dict[str, Mapping[str, Any]] = {}
    total = 0
    for record in rows:
        total += 1
        # A repeat inside the batch is a duplicate too; keep the first.
        unique.setdefault(str(record["id"]), record)
    if not unique:
        return IngestResult(0, total)
    if not conn.in_transaction():
        conn.begin()  # what autobegin would do: the caller commits
    records = list(unique.values())
    insert = _insert_postgresql if is_postgresql(conn) else _insert_sqlite
    inserted = 0
    for start in range(0, len(records), max(1, batch_size)):
        inserted += insert(conn, records[start : start + batch_size], environment, received_at)
    return IngestResult(inserted, total - inserted)


# Ingestion is the hot write path, so both inserts go to the driver directly: building one
# SQLAlchemy parameter set per row costs more than the database does. Values are converted
# with the columns' own SQLAlchemy processors, so they read back exactly like any other row.


def _insert_sqlite(
    conn: Connection,
    records: list[Mapping[str, Any]],
    environment: str | None,
    received_at: datetime,
) -> int:
    """One ``executemany`` in C; sqlite3 sums the changes, and ignored rows make none."""
    dialect = conn.dialect
    stamp = _process(events.c.received_at.type, dialect, received_at)
    to_json = events.c.properties.type.dialect_impl(dialect).bind_processor(dialect)
    if to_json is None:  # pragma: no cover - SQLAlchemy's JSON always has one
        raise RuntimeError("no JSON bind processor")
    params = [_row(r, environment, to_json, stamp) for r in records]
    sql = (
        f"INSERT INTO events ({_COLUMN_LIST}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
        "ON CONFLICT (id) DO NOTHING"
    )
    with _driver_cursor(conn, sql) as cursor:
        cursor.executemany(sql, params)
        return int(cursor.rowcount)


def _row(
    r: Mapping[str, Any],
    environment: str | None,
    encode: Callable[[Any], Any],
    received_at: Any,
) -> tuple[Any, ...]:
    """One event as the column tuple of ``_COLUMNS`` (``encode`` writes ``properties``)."""
    return (
        r["id"],
        environment if environment is not None else r.get("environment"),
        r.get("type"),
        r.get("time_ms"),
        r.get("user_id"),
        r.get("session_id"),
        r.get("flag"),
        r.get("variant"),
        r.get("reason"),
        r.get("rule_id"),
        r.get("flag_version"),
        r.get("name"),
        r.get("value"),
        encode(r.get("properties")),
        received_at,
    )


def _json_or_none(value: Any) -> str | None:
    return json.dumps(value) if value is not None else None


def _insert_postgresql(
    conn: Connection,
    records: list[Mapping[str, Any]],
    environment: str | None,
    received_at: datetime,
) -> int:
    """``COPY`` straight into ``events``; only a batch with a known id takes the slower path.

    ``COPY`` is PostgreSQL's bulk path but cannot skip duplicates. A fresh batch — nearly every
    batch: duplicates come only from an SDK retrying after a lost response — is copied directly
    inside a savepoint. If an id is already stored the savepoint is rolled back and the batch
    goes through a session-local staging table and one ``INSERT … SELECT … ON CONFLICT DO
    NOTHING``, whose row count is the number inserted.
    """
    rows = [_row(r, environment, _json_or_none, received_at) for r in records]
    savepoint = conn.begin_nested()
    try:
        with (
            _driver_cursor(conn, "COPY events") as cursor,
            cursor.copy(f"COPY events ({_COLUMN_LIST}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
    except sa.exc.IntegrityError:
        savepoint.rollback()
        return _insert_postgresql_staged(conn, rows)
    savepoint.commit()
    return len(rows)


def _insert_postgresql_staged(conn: Connection, rows: list[tuple[Any, ...]]) -> int:
    with _driver_cursor(conn, "COPY events") as cursor:
        cursor.execute(_PG_STAGING)
        with cursor.copy(f"COPY {_STAGING} ({_COLUMN_LIST}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO events ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {_STAGING} "
            "ON CONFLICT (id) DO NOTHING"
        )
        inserted = int(cursor.rowcount)
        cursor.execute(f"TRUNCATE {_STAGING}")
        return inserted


@contextmanager
def _driver_cursor(conn: Connection, statement: str) -> Iterator[Any]:
    """A cursor of the driver itself, whose errors still surface as SQLAlchemy's exceptions.

    So a bad row raises ``sqlalchemy.exc.IntegrityError`` here as anywhere else in the store.
    """
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(
            statement, None, exc, dbapi.Error, dialect=conn.dialect
        ) from exc
    finally:
        cursor.close()


def _process(column_type: sa.types.TypeEngine[Any], dialect: sa.Dialect, value: Any) -> Any:
    processor = column_type.dialect_impl(dialect).bind_processor(dialect)
    return processor(value) if processor is not None else value


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
