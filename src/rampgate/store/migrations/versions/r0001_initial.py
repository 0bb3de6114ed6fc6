"""The first schema: environments, flags and their versions, tokens, idempotency, receipts,
the hash-chained audit log and events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written out by hand rather than from ``schema.metadata``: a shipped migration is frozen, while
the metadata moves on. ``tests/store/test_migrations.py`` checks the two agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("flag_versions", "audit_log")


def _ts(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _key(name: str, *args: object, **kwargs: object) -> sa.Column[object]:
    return sa.Column(name, sa.String(128), *args, **kwargs)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "environments",
        _key("key", nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ruleset_version", sa.BigInteger(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("key", name="pk_environments"),
    )
    op.create_table(
        "flags",
        _key("environment", nullable=False),
        _key("key", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.Column("updated_by", sa.String(256), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment"], ["environments.key"], name="fk_flags_environment_environments"
        ),
        sa.PrimaryKeyConstraint("environment", "key", name="pk_flags"),
    )
    op.create_table(
        "flag_versions",
        _key("environment", nullable=False),
        _key("key", nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("change_id", sa.String(36), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(
            ["environment"], ["environments.key"], name="fk_flag_versions_environment_environments"
        ),
        sa.PrimaryKeyConstraint("environment", "key", "version", name="pk_flag_versions"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        _key("environment", nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        _ts("created_at"),
        _ts("revoked_at", nullable=True),
        sa.CheckConstraint("kind IN ('admin', 'sdk')", name=op.f("ck_api_tokens_kind")),
        sa.CheckConstraint(
            "(kind = 'admin' AND environment IS NULL) "
            "OR (kind = 'sdk' AND environment IS NOT NULL)",
            name=op.f("ck_api_tokens_scope"),
        ),
        sa.ForeignKeyConstraint(
            ["environment"], ["environments.key"], name="fk_api_tokens_environment_environments"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_table(
        "idempotency",
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("scope", sa.String(512), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("key", "scope", name="pk_idempotency"),
    )
    op.create_index("ix_idempotency_created_at", "idempotency", ["created_at"])
    op.create_table(
        "receipts",
        sa.Column("change_id", sa.String(36), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(512), nullable=False),
        sa.Column("before_version", sa.Integer(), nullable=True),
        sa.Column("after_version", sa.Integer(), nullable=True),
        _ts("created_at"),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("change_id", name="pk_receipts"),
    )
    op.create_index("ix_receipts_resource", "receipts", ["resource"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        _ts("created_at"),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(512), nullable=False),
        sa.Column("change_id", sa.String(36), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_created_at", "audit_log", ["created_at"])
    op.create_index("ix_audit_log_resource", "audit_log", ["resource"])
    audit_head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_single_row")),
        sa.PrimaryKeyConstraint("id", name="pk_audit_head"),
    )
    op.bulk_insert(audit_head, [{"id": 1, "seq": 0, "hash": "0" * 64}])
    op.create_table(
        "events",
        sa.Column("id", sa.String(64), nullable=False),
        _key("environment", nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.String(256), nullable=True),
        sa.Column("session_id", sa.String(256), nullable=True),
        _key("flag", nullable=True),
        _key("variant", nullable=True),
        sa.Column("reason", sa.String(32), nullable=True),
        _key("rule_id", nullable=True),
        sa.Column("flag_version", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(256), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=True),
        _ts("received_at"),
        sa.CheckConstraint("type IN ('exposure', 'event')", name=op.f("ck_events_type")),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_environment_flag", "events", ["environment", "flag", "time_ms"])
    op.create_index("ix_events_environment_name", "events", ["environment", "name", "time_ms"])
    op.create_index("ix_events_user_id", "events", ["user_id"])
    _append_only_triggers()


def _append_only_triggers() -> None:
    """Refuse UPDATE and DELETE on the append-only tables inside the database itself."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION rampgate_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION rampgate_append_only()"
            )
    else:
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def downgrade() -> None:
    for table in (
        "events",
        "audit_head",
        "audit_log",
        "receipts",
        "idempotency",
        "api_tokens",
        "flag_versions",
        "flags",
        "environments",
    ):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS rampgate_append_only()")
