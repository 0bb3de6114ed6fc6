"""Engines for SQLite and PostgreSQL, configured so concurrent writers queue instead of failing.

SQLite is the one-file default. Its defaults are wrong for a server: the journal blocks readers
during a write, a busy database fails at once, foreign keys are off, and Python's ``sqlite3``
opens transactions as ``DEFERRED`` — two of those that both read, then write, deadlock and one
fails with "database is locked" regardless of the busy timeout. So every connection here gets
WAL, a busy timeout and foreign keys, and every transaction begins ``IMMEDIATE`` (it takes the
write lock up front, and waiters queue on the busy timeout). Read-only work opts out with
:func:`read`, which begins ``DEFERRED`` so readers never wait for writers.

PostgreSQL goes through psycopg 3; ``postgresql://`` and ``postgres://`` URLs are rewritten to
``postgresql+psycopg://``. Reading ``RAMPGATE_DATABASE_URL`` is the caller's job, not this
module's: a library function that reads the environment is a hidden input.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.sql.dml import Insert

__all__ = [
    "DEFAULT_URL",
    "create_engine",
    "insert_if_absent",
    "insert_ignoring_conflicts",
    "is_postgresql",
    "is_sqlite",
    "normalise_url",
    "read",
    "write",
]

DEFAULT_URL = "sqlite:///rampgate.db"
BUSY_TIMEOUT_MS = 5_000
# Execution option read by the SQLite ``begin`` hook: "IMMEDIATE" (default) or "DEFERRED".
_BEGIN_OPTION = "rampgate_sqlite_begin"


def normalise_url(url: str | URL) -> URL:
    """The URL with PostgreSQL pointed at psycopg 3 (the only PostgreSQL driver we ship)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(
    url: str | URL = DEFAULT_URL,
    *,
    sqlite_synchronous: str = "NORMAL",
    **kwargs: Any,
) -> Engine:
    """An engine for ``url`` (SQLite file or PostgreSQL), ready for concurrent use.

    ``sqlite_synchronous`` is SQLite's ``PRAGMA synchronous``. ``NORMAL`` is what the SQLite
    documentation recommends with WAL: never corrupt, and a power cut (not a crash of the
    process) may lose the last commits; pass ``FULL`` to fsync every commit. Other keyword
    arguments go to :func:`sqlalchemy.create_engine` (``poolclass``, ``pool_size``…).
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "postgresql":
        # Replicas outlive database restarts: test a pooled connection before handing it out.
        kwargs.setdefault("pool_pre_ping", True)
    engine = sa.create_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, synchronous=sqlite_synchronous)
    return engine


def _configure_sqlite(engine: Engine, *, synchronous: str) -> None:
    if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(
            f"sqlite_synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}"
        )
    in_memory = engine.url.database in (None, "", ":memory:")

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module so the hook below can say IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "sqlite"


def is_postgresql(conn: Connection | Engine) -> bool:
    return conn.dialect.name == "postgresql"


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed when the block ends, rolled back if it raises.

    On SQLite it begins ``IMMEDIATE``: it waits (up to the busy timeout) for the write lock
    instead of failing half way through.
    """
    with engine.begin() as conn:
        yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction over one consistent snapshot.

    SQLite: ``BEGIN DEFERRED``, so readers do not queue behind writers (WAL lets them read the
    last committed state). PostgreSQL: ``REPEATABLE READ READ ONLY``, so several statements see
    the same snapshot (a list and its count agree) and nothing can be written by mistake.
    """
    options: Mapping[str, Any]
    if engine.dialect.name == "postgresql":
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    else:
        options = {_BEGIN_OPTION: "DEFERRED"}
    with engine.connect() as base:
        conn = base.execution_options(**options)
        with conn.begin():
            yield conn


def insert_ignoring_conflicts(conn: Connection, table: sa.Table) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` for the connection's dialect.

    A conflicting insert that does nothing leaves the transaction usable on PostgreSQL, where
    a failed ``INSERT`` would abort it; the caller learns from the row count (or ``RETURNING``)
    whether the row went in.
    """
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(
        f"rampgate's store supports SQLite and PostgreSQL, not {conn.dialect.name}"
    )


def insert_if_absent(conn: Connection, table: sa.Table, values: Mapping[str, Any]) -> bool:
    """Insert one row unless its key is taken; ``True`` if it went in.

    ``RETURNING`` answers the question on both databases (a driver's row count for an
    ``INSERT`` is not something SQLAlchemy promises).
    """
    key = next(iter(table.primary_key.columns))
    statement = insert_ignoring_conflicts(conn, table).values(**values).returning(key)
    return conn.execute(statement).first() is not None
