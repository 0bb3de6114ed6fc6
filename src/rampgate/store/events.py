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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import repeat
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rampgate.domain.records import EVENT_FIELDS

from .db import is_postgresql
from .schema import events, utcnow

__all__ = [
    "EVENT_FIELDS",
    "IngestResult",
    "count_events",
    "event_columns",
    "insert_event_columns",
    "insert_events",
]


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
    return insert_event_columns(
        conn,
        event_columns(list(rows)),
        environment=environment,
        received_at=received_at,
        batch_size=batch_size,
    )


def event_columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The rows as one list per field of :data:`EVENT_FIELDS` (a missing key is ``None``)."""
    if all(type(row) is dict for row in rows):
        # dict.get mapped in C: a column costs a few ns per row, not a Python call.
        get = dict.get
        return {name: list(map(get, rows, repeat(name))) for name in EVENT_FIELDS}  # type: ignore[arg-type]
    return {name: [row.get(name) for row in rows] for name in EVENT_FIELDS}


def insert_event_columns(
    conn: Connection,
    columns: Mapping[str, Sequence[Any]],
    *,
    environment: str | None = None,
    received_at: datetime | None = None,
    batch_size: int = 5000,
) -> IngestResult:
    """:func:`insert_events` for events given as columns (see :func:`event_columns`).

    Every column of :data:`EVENT_FIELDS` must be present and as long as ``columns["id"]``.
    The server's ingestion validates columns, so it hands them over as they are: building a
    row per event is what made the old path cost more than the database did.
    """
    ids = columns["id"]
    total = len(ids)
    if any(len(columns[name]) != total for name in EVENT_FIELDS):
        raise ValueError("every event column must be as long as the id column")
    if total == 0:
        return IngestResult(0, 0)
    if None in ids:
        raise ValueError("every event needs an id")
    if len(set(ids)) != total:
        # A repeat inside the batch is a duplicate too; keep the first (rare: costs a copy).
        first: dict[Any, int] = {}
        for index, event_id in enumerate(ids):
            first.setdefault(event_id, index)
        keep = list(first.values())  # ascending: dicts keep insertion order
        columns = {name: [columns[name][i] for i in keep] for name in EVENT_FIELDS}
    if not conn.in_transaction():
        conn.begin()  # what autobegin would do: the caller commits
    received_at = received_at or utcnow()
    insert = _insert_postgresql if is_postgresql(conn) else _insert_sqlite
    rows = _rows(conn, columns, environment, received_at)
    step = max(1, batch_size)
    inserted = sum(insert(conn, rows[start : start + step]) for start in range(0, len(rows), step))
    return IngestResult(inserted, total - inserted)


# Ingestion is the hot write path, so both inserts go to the driver directly: building one
# SQLAlchemy parameter set per row costs more than the database does. Values are converted
# with the columns' own SQLAlchemy processors, so they read back exactly like any other row.


def _rows(
    conn: Connection,
    columns: Mapping[str, Sequence[Any]],
    environment: str | None,
    received_at: datetime,
) -> list[tuple[Any, ...]]:
    """The driver's parameter tuples, in the order of ``_COLUMNS``, zipped column-wise in C."""
    dialect = conn.dialect
    if is_postgresql(conn):
        encode: Callable[[Any], Any] = _json_or_none
        stamp: Any = received_at  # COPY adapts the aware datetime itself
    else:
        encoder = events.c.properties.type.dialect_impl(dialect).bind_processor(dialect)
        if encoder is None:  # pragma: no cover - SQLAlchemy's JSON always has one
            raise RuntimeError("no JSON bind processor")
        encode = encoder
        stamp = _process(events.c.received_at.type, dialect, received_at)
    empty = encode({})
    # Most events carry no properties (None) or none worth a call to json.dumps ({}).
    properties = [
        None if p is None else empty if not p else encode(p) for p in columns["properties"]
    ]
    values: list[Iterable[Any]] = [
        properties
        if name == "properties"
        else repeat(environment)
        if name == "environment" and environment is not None
        else columns[name]
        for name in EVENT_FIELDS
    ]
    return list(zip(*values, repeat(stamp)))


def _insert_sqlite(conn: Connection, rows: list[tuple[Any, ...]]) -> int:
    """One ``executemany`` in C; sqlite3 sums the changes, and ignored rows make none."""
    sql = (
        f"INSERT INTO events ({_COLUMN_LIST}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
        "ON CONFLICT (id) DO NOTHING"
    )
    with _driver_cursor(conn, sql) as cursor:
        cursor.executemany(sql, rows)
        return int(cursor.rowcount)


def _json_or_none(value: Any) -> str | None:
    return json.dumps(value) if value is not None else None


def _insert_postgresql(conn: Connection, rows: list[tuple[Any, ...]]) -> int:
    """``COPY`` straight into ``events``; only a batch with a known id takes the slower path.

    ``COPY`` is PostgreSQL's bulk path but cannot skip duplicates. A fresh batch — nearly every
    batch: duplicates come only from an SDK retrying after a lost response — is copied directly
    inside a savepoint. If an id is already stored the savepoint is rolled back and the batch
    goes through a session-local staging table and one ``INSERT … SELECT … ON CONFLICT DO
    NOTHING``, whose row count is the number inserted.
    """
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
