"""Alembic's entry point, driven from code by :mod:`rampgate.store.migrate` (no alembic.ini).

The caller passes an open connection in ``config.attributes["connection"]``; the whole upgrade
runs in that connection's transaction. On PostgreSQL it first takes an advisory lock, so two
server replicas starting at once upgrade one after the other instead of racing to create the
same tables (on SQLite the ``BEGIN IMMEDIATE`` transaction already does that).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from rampgate.store.migrate import MIGRATION_LOCK_ID, VERSION_TABLE
from rampgate.store.schema import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    _connection = context.config.attributes.get("connection")
    if not isinstance(_connection, Connection):
        raise RuntimeError(
            "run migrations through rampgate.store.migrate.upgrade(), which passes a connection"
        )
    _run(_connection)
