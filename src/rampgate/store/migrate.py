"""Run the schema migrations from code: ``rampgate serve`` and ``rampgate db upgrade`` call this.

The Alembic configuration is built here rather than read from an ``alembic.ini``, and the
scripts are located through the installed package (``rampgate.store:migrations``), so an
upgrade works from a wheel in any working directory.
"""

from __future__ import annotations

import threading

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection, Engine

from .db import create_engine

__all__ = ["MIGRATION_LOCK_ID", "VERSION_TABLE", "alembic_config", "current", "head", "upgrade"]

# Our own version table, so a database shared with an application's Alembic history is safe.
VERSION_TABLE = "rampgate_alembic_version"
# pg_advisory_xact_lock key held while migrating ("rampgate" in ASCII, as a bigint).
MIGRATION_LOCK_ID = 0x72616D7067617465
# Alembic keeps the running migration in module globals (alembic.context): one per process.
_ALEMBIC = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` pointing at the packaged scripts (and at ``connection``, if given)."""
    config = Config()
    config.set_main_option("script_location", "rampgate.store:migrations")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _engine(bind: Engine | str | URL) -> tuple[Engine, bool]:
    if isinstance(bind, Engine):
        return bind, False
    return create_engine(bind), True


def upgrade(bind: Engine | str | URL, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the newest); a no-op when already there.

    Safe to run from several processes at once: they take turns (advisory lock on
    PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and the later ones find nothing to do.
    """
    engine, owned = _engine(bind)
    try:
        with _ALEMBIC, engine.begin() as conn:
            command.upgrade(alembic_config(conn), revision)
    finally:
        if owned:
            engine.dispose()


def current(bind: Engine | str | URL) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    engine, owned = _engine(bind)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()
    finally:
        if owned:
            engine.dispose()


def head() -> str:
    """The newest revision the installed package knows."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:  # pragma: no cover - the package always ships at least one revision
        raise RuntimeError("no migrations found in rampgate.store.migrations")
    return revision
