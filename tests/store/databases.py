"""Database fixtures for any test that needs a real store: SQLite and PostgreSQL alike.

``database_url`` is parametrised over both databases and gives each test an empty database of
its own — a fresh SQLite file, or a fresh PostgreSQL schema (``search_path`` in the URL) that
is dropped afterwards, so runs never see each other's rows. ``engine`` is that database,
migrated to the newest schema; ``postgres_engine`` is a migrated PostgreSQL database alone, for
what only PostgreSQL does.

PostgreSQL is ``RAMPGATE_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
When it cannot be reached the PostgreSQL cases are skipped with the reason — except under
``CI=true``, where they fail: CI must really run both databases.

Other test packages reuse these by importing them into their own ``conftest.py``::

    from tests.store.databases import database_url, engine, postgres_engine  # noqa: F401
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from rampgate.store import create_engine, upgrade

__all__ = [
    "POSTGRES_URL",
    "database_url",
    "engine",
    "fresh_postgres_schema",
    "migrated",
    "postgres_engine",
    "postgres_problem",
    "require_postgres",
]

POSTGRES_URL = os.environ.get(
    "RAMPGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@functools.cache
def postgres_problem() -> str | None:
    """Why the test PostgreSQL cannot be used, or ``None`` when it can (asked once per run)."""
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure to connect means "not available", with its reason
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc.__class__.__name__}: {exc}"
    finally:
        engine.dispose()
    return None


def require_postgres() -> None:
    """Skip (or, under ``CI=true``, fail) the calling test when PostgreSQL is unavailable."""
    problem = postgres_problem()
    if problem is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{problem} (CI=true: the PostgreSQL tests must run)")
    pytest.skip(problem)


@contextmanager
def fresh_postgres_schema() -> Iterator[str]:
    """A URL whose ``search_path`` is a new, empty schema, dropped on exit."""
    require_postgres()
    schema = f"rg_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def migrated(url: str) -> Iterator[Engine]:
    eng = create_engine(url)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database of this test's own: a SQLite file or a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'rampgate.db'}"
        return
    with fresh_postgres_schema() as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The test's database, migrated to the newest schema."""
    with migrated(database_url) as eng:
        yield eng


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    """A migrated PostgreSQL database, for what only PostgreSQL does (LISTEN/NOTIFY, READ ONLY)."""
    with fresh_postgres_schema() as url, migrated(url) as eng:
        yield eng
