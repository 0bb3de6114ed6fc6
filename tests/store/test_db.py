"""Engines: URL rewriting, SQLite pragmas, IMMEDIATE writes and non-blocking reads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from rampgate import store
from rampgate.store.db import create_engine, normalise_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///rampgate.db", "sqlite:///rampgate.db"),
    ],
)
def test_normalise_url(given: str, expected: str) -> None:
    assert normalise_url(given).render_as_string(hide_password=False) == expected


def test_default_url_is_a_local_sqlite_file() -> None:
    assert store.DEFAULT_URL == "sqlite:///rampgate.db"


def test_sqlite_connections_are_configured(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            }
    finally:
        engine.dispose()
    assert pragma == {
        "journal_mode": "wal",
        "busy_timeout": 5000,
        "foreign_keys": 1,
        "synchronous": 1,
    }


def test_bad_synchronous_setting_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sqlite_synchronous"):
        create_engine(f"sqlite:///{tmp_path / 'x.db'}", sqlite_synchronous="sometimes")


def test_sqlite_writers_queue_and_readers_do_not(tmp_path: Path) -> None:
    """A second writer waits for the first (no 'database is locked'); a reader never waits."""
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
    holding = threading.Event()
    asking = threading.Event()
    release = threading.Event()
    waited: list[float] = []

    def first_writer() -> None:
        with store.write(engine) as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            holding.set()
            release.wait(5)

    def second_writer() -> None:
        start = time.perf_counter()
        asking.set()
        with store.write(engine) as conn:
            waited.append(time.perf_counter() - start)
            conn.exec_driver_sql("INSERT INTO t VALUES (2)")

    t1 = threading.Thread(target=first_writer)
    t1.start()
    assert holding.wait(5)
    t2 = threading.Thread(target=second_writer)
    t2.start()
    # The reader sees the last committed state at once, while the writer holds the lock.
    start = time.perf_counter()
    with store.read(engine) as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    assert time.perf_counter() - start < 1.0
    assert asking.wait(5)
    time.sleep(0.3)
    release.set()
    t1.join()
    t2.join()
    assert waited and waited[0] >= 0.3
    with store.read(engine) as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2
    engine.dispose()


@pytest.mark.postgres
def test_read_transactions_refuse_writes_on_postgresql(postgres_engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.DBAPIError, match="read-only"), store.read(postgres_engine) as conn:
        store.create_environment(conn, "dev", actor="t")
