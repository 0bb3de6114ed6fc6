"""Migrations: from empty to head, repeatable, concurrent-safe, and in step with schema.py."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from rampgate.store import create_engine, migrate, schema, upgrade

TABLES = {
    "environments",
    "flags",
    "flag_versions",
    "api_tokens",
    "idempotency",
    "receipts",
    "audit_log",
    "audit_head",
    "events",
    "rollouts",
    "rollout_commands",
    "snapshots",
    "eval_results",
    "alerts",
    "experiments",
    migrate.VERSION_TABLE,
}


def test_upgrade_from_empty_twice(database_url: str) -> None:
    assert migrate.current(database_url) is None
    upgrade(database_url)
    upgrade(database_url)  # the second run finds nothing to do
    assert migrate.current(database_url) == migrate.head()
    engine = create_engine(database_url)
    try:
        assert set(sa.inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as conn:
            head = conn.execute(sa.select(schema.audit_head)).all()
        assert [tuple(row) for row in head] == [(1, 0, schema.GENESIS_HASH)]
    finally:
        engine.dispose()


def test_migrated_database_matches_the_metadata(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": migrate.VERSION_TABLE}
        )
        diffs = compare_metadata(context, schema.metadata)
    assert diffs == []


def _event_indexes(engine: Engine) -> dict[str, tuple[tuple[str, ...], str | None]]:
    """The events table's secondary indexes: name -> (key columns, partial-index condition)."""

    def condition(options: dict[str, Any]) -> str | None:
        where = options.get(f"{engine.dialect.name}_where")
        # PostgreSQL gives "(flag IS NOT NULL)", SQLite the text as written.
        return None if where is None else re.sub(r"[()]", "", str(where)).strip()

    return {
        ix["name"]: (tuple(ix["column_names"]), condition(ix.get("dialect_options", {})))
        for ix in sa.inspect(engine).get_indexes("events")
        if ix["name"] is not None
    }


def test_analysis_indexes_are_built_as_declared_and_downgrade_restores_0001(
    database_url: str,
) -> None:
    """Alembic's comparison ignores partial-index conditions: check them here, and the way back."""
    engine = create_engine(database_url)
    dialect = engine.dialect.name
    declared = {
        str(ix.name): (
            tuple(c.name for c in ix.columns),
            None
            if ix.dialect_options[dialect]["where"] is None
            else str(ix.dialect_options[dialect]["where"]),
        )
        for ix in schema.events.indexes
    }
    try:
        upgrade(engine, "0002")
        assert _event_indexes(engine) == declared
        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "0001")
        assert _event_indexes(engine) == {
            "ix_events_environment_flag": (("environment", "flag", "time_ms"), None),
            "ix_events_environment_name": (("environment", "name", "time_ms"), None),
            "ix_events_user_id": (("user_id",), None),
        }
    finally:
        engine.dispose()


def test_concurrent_upgrades_take_turns(database_url: str) -> None:
    """Replicas starting at once: separate processes upgrading the same empty database."""
    code = "import sys; from rampgate.store import upgrade; upgrade(sys.argv[1])"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, database_url], stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    results = [(p.communicate(timeout=60)[1], p.returncode) for p in procs]
    assert results == [("", 0)] * 3
    assert migrate.current(database_url) == migrate.head()


def test_upgrade_is_thread_safe_in_one_process(database_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def run() -> None:
        try:
            barrier.wait()
            upgrade(database_url)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert migrate.current(database_url) == migrate.head()


def test_scripts_are_found_through_the_package() -> None:
    config = migrate.alembic_config()
    assert config.get_main_option("script_location") == "rampgate.store:migrations"
    assert migrate.head() == "0003"
