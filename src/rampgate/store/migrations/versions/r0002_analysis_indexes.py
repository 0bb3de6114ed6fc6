"""Analysis indexes: the ``events`` indexes widened to cover the aggregation statements of
``rampgate.store.analysis_sql``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

Each of 0001's three secondary indexes is replaced by one with the same name and leading
columns, and none is added; ``docs/analysis-sql.md`` says which part of the statement reads
which index, and what they cost on ingestion.

- All three are partial. An exposure has a ``flag`` and no ``name``, an outcome event the
  reverse, so each row goes into the flag index or the name index, never both, and only
  outcome events into the ``user_id`` one: what the analysis reads, and no more.
- The same key columns on both databases, no PostgreSQL ``INCLUDE``: one definition then
  serves both, and ``tests/store/test_migrations.py`` can compare it with ``schema.py``. On
  PostgreSQL the extra key columns cost what ``INCLUDE`` columns would: B-tree suffix
  truncation keeps them out of the inner pages, and the leading columns nearly always decide
  the order before they are compared.
- No index on ``session_id``: it would be a second index with keys in random order, which
  measured +40% on the time of a SQLite insert; a session analysis reads what it needs from
  the name index instead.

On a large ``events`` table the upgrade rebuilds the three indexes inside the migration's
transaction, which blocks ingestion meanwhile (roughly a minute per 10 million rows on 2 CPUs).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# name -> (key columns, partial-index condition)
INDEXES: dict[str, tuple[list[str], str]] = {
    "ix_events_environment_flag": (
        [
            "environment",
            "flag",
            "time_ms",
            "type",
            "variant",
            "flag_version",
            "rule_id",
            "user_id",
            "session_id",
        ],
        "flag IS NOT NULL",
    ),
    "ix_events_environment_name": (
        ["environment", "name", "time_ms", "type", "user_id", "session_id", "value"],
        "name IS NOT NULL",
    ),
    "ix_events_user_id": (
        ["user_id", "environment", "name", "time_ms", "type", "value"],
        "name IS NOT NULL",
    ),
}

# 0001's, restored by the downgrade.
INITIAL: dict[str, list[str]] = {
    "ix_events_environment_flag": ["environment", "flag", "time_ms"],
    "ix_events_environment_name": ["environment", "name", "time_ms"],
    "ix_events_user_id": ["user_id"],
}


def upgrade() -> None:
    for name in INITIAL:
        op.drop_index(name, table_name="events")
    for name, (columns, where) in INDEXES.items():
        condition = sa.text(where)
        op.create_index(name, "events", columns, sqlite_where=condition, postgresql_where=condition)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="events")
    for name, columns in INITIAL.items():
        op.create_index(name, "events", columns)
