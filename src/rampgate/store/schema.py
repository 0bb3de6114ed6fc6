"""The tables, as SQLAlchemy Core metadata — the shape the migrations build and the code reads.

Choices that matter:

- Documents are ``JSON`` (text), never PostgreSQL ``JSONB``: ``JSONB`` re-orders object keys,
  and the order of a split's ``weights`` decides the bucket ranges — a re-ordered flag would
  re-assign users. Text JSON keeps the document exactly as written.
- Timestamps are UTC microseconds on both databases (:class:`UtcDateTime`); the audit hash
  covers them, so they must read back exactly as written.
- ``flag_versions`` and ``audit_log`` are append-only; the migrations add triggers that refuse
  ``UPDATE`` and ``DELETE`` (the hash chain then proves the log was not edited behind them).
- ``audit_head`` is one row: the end of the chain. Appends lock it, which serialises every
  change on PostgreSQL as ``BEGIN IMMEDIATE`` does on SQLite, and verification compares it with
  the last row, so cutting rows off the end is detected too.
- ``events`` has no foreign key: ingestion is the hot write path and the API has already
  checked the environment against the SDK key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "GENESIS_HASH",
    "UtcDateTime",
    "alerts",
    "api_tokens",
    "audit_head",
    "audit_log",
    "environments",
    "eval_results",
    "events",
    "experiments",
    "flag_versions",
    "flags",
    "idempotency",
    "metadata",
    "receipts",
    "rollout_commands",
    "rollouts",
    "snapshots",
    "utcnow",
]

GENESIS_HASH = "0" * 64
KEY_LENGTH = 128


def utcnow() -> datetime:
    """The current time in UTC; one place to read the clock, so tests can replace it."""
    return datetime.now(UTC)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An aware UTC datetime on both databases (SQLite has no time zones: stored naive UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: rampgate stores aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers always give datetimes
            raise TypeError(f"expected a datetime, got {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _key(name: str, *args: Any, **kwargs: Any) -> sa.Column[str]:
    return sa.Column(name, sa.String(KEY_LENGTH), *args, **kwargs)


def _json(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    # none_as_null: a missing detail is SQL NULL, not the JSON text 'null'.
    return sa.Column(name, sa.JSON(none_as_null=True), nullable=nullable)


# Naming convention: constraint names are stable across dialects and migrations.
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

environments = sa.Table(
    "environments",
    metadata,
    _key("key", primary_key=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    # Bumped in the same transaction as any flag change: what SDKs compare to know they are current.
    sa.Column("ruleset_version", sa.BigInteger, nullable=False, default=0),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

flags = sa.Table(
    "flags",
    metadata,
    _key("environment", sa.ForeignKey("environments.key"), primary_key=True),
    _key("key", primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    _json("document"),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("updated_by", sa.String(256), nullable=False),
)

flag_versions = sa.Table(
    "flag_versions",
    metadata,
    _key("environment", sa.ForeignKey("environments.key"), primary_key=True),
    _key("key", primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    _json("document"),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("change_id", sa.String(36), nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    _key("environment", sa.ForeignKey("environments.key"), nullable=True),
    # sha256 of the plaintext; the plaintext itself is shown once and never stored.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(256), nullable=False, default=""),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
    sa.CheckConstraint("kind IN ('admin', 'sdk')", name="kind"),
    sa.CheckConstraint(
        "(kind = 'admin' AND environment IS NULL) OR (kind = 'sdk' AND environment IS NOT NULL)",
        name="scope",
    ),
)

idempotency = sa.Table(
    "idempotency",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("scope", sa.String(512), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    # NULL while the request that claimed the key is still running (inside its transaction).
    sa.Column("status_code", sa.Integer, nullable=True),
    _json("response", nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
)

receipts = sa.Table(
    "receipts",
    metadata,
    sa.Column("change_id", sa.String(36), primary_key=True),
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("resource", sa.String(512), nullable=False, index=True),
    sa.Column("before_version", sa.Integer, nullable=True),
    sa.Column("after_version", sa.Integer, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    _json("detail", nullable=True),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    # Assigned by the appender (head + 1) under the chain lock: gap-free, and covered by the hash.
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("resource", sa.String(512), nullable=False, index=True),
    sa.Column("change_id", sa.String(36), nullable=True),
    _json("detail", nullable=True),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.CheckConstraint("id = 1", name="single_row"),
)

events = sa.Table(
    "events",
    metadata,
    # The SDK's UUIDv7-shaped id: the key that makes at-least-once delivery exactly-once.
    sa.Column("id", sa.String(64), primary_key=True),
    _key("environment", nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("time_ms", sa.BigInteger, nullable=False),
    sa.Column("user_id", sa.String(256), nullable=True),
    sa.Column("session_id", sa.String(256), nullable=True),
    _key("flag", nullable=True),
    _key("variant", nullable=True),
    sa.Column("reason", sa.String(32), nullable=True),
    _key("rule_id", nullable=True),
    sa.Column("flag_version", sa.Integer, nullable=True),
    sa.Column("name", sa.String(256), nullable=True),
    sa.Column("value", sa.Float, nullable=True),
    _json("properties", nullable=True),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.CheckConstraint("type IN ('exposure', 'event')", name="type"),
    # Migration 0002: covering indexes for the analysis statements (docs/analysis-sql.md).
    # Exposures only: the exposure branch of an analysis reads this index alone.
    sa.Index(
        "ix_events_environment_flag",
        "environment",
        "flag",
        "time_ms",
        "type",
        "variant",
        "flag_version",
        "rule_id",
        "user_id",
        "session_id",
        sqlite_where=sa.text("flag IS NOT NULL"),
        postgresql_where=sa.text("flag IS NOT NULL"),
    ),
    # Outcome events only: the event branch of an analysis reads this index alone.
    sa.Index(
        "ix_events_environment_name",
        "environment",
        "name",
        "time_ms",
        "type",
        "user_id",
        "session_id",
        "value",
        sqlite_where=sa.text("name IS NOT NULL"),
        postgresql_where=sa.text("name IS NOT NULL"),
    ),
    # Outcome events by user: SQLite's analysis finds each exposed user's events through it
    # (and both databases those of a user with events before the first exposure).
    sa.Index(
        "ix_events_user_id",
        "user_id",
        "environment",
        "name",
        "time_ms",
        "type",
        "value",
        sqlite_where=sa.text("name IS NOT NULL"),
        postgresql_where=sa.text("name IS NOT NULL"),
    ),
)

# --- Rollouts and experiments (migration 0003) -------------------------------------------------
# The plan, state and contract are documents the store keeps but does not interpret: the store
# may not import ``control``, and the server (de)serialises them. ``revision`` is the
# compare-and-swap version of the state, so two controllers can never both act on one turn.

rollouts = sa.Table(
    "rollouts",
    metadata,
    # "{name}#{run}": prefixes every idempotency key of the run (see control.RolloutState).
    sa.Column("id", sa.String(KEY_LENGTH + 16), primary_key=True),
    _key("environment", sa.ForeignKey("environments.key"), nullable=False),
    _key("name", nullable=False),
    sa.Column("run", sa.Integer, nullable=False),
    _key("flag", nullable=False),
    _json("plan"),
    _json("state"),
    sa.Column("status", sa.String(32), nullable=False),
    # The rollout still acts; at most one active run per flag (checked on create, under lock).
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("created_by", sa.String(256), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("environment", "name", "run"),
    sa.Index("ix_rollouts_active", "active", "environment"),
)

rollout_commands = sa.Table(
    "rollout_commands",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "rollout_id", sa.String(KEY_LENGTH + 16), sa.ForeignKey("rollouts.id"), nullable=False
    ),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("step", sa.Integer, nullable=True),
    sa.Column("mode", sa.String(16), nullable=True),
    sa.Column("change_id", sa.String(36), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # Set by the reconcile that read the command: the revision it produced.
    sa.Column("consumed_revision", sa.Integer, nullable=True),
    sa.Index("ix_rollout_commands_pending", "rollout_id", "consumed_revision"),
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    # "{rollout_id}/snapshot/{revision}" or "{experiment}/checkpoint/{n}": chosen by the caller.
    sa.Column("id", sa.String(512), primary_key=True),
    # The rollout run or experiment the snapshot explains.
    sa.Column("subject", sa.String(KEY_LENGTH + 16), nullable=False, index=True),
    _json("document"),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

eval_results = sa.Table(
    "eval_results",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    _key("environment", sa.ForeignKey("environments.key"), nullable=False),
    _key("flag", nullable=False),
    _key("variant", nullable=False),
    sa.Column("suite", sa.String(256), nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_eval_results_flag", "environment", "flag", "variant", "suite"),
)

alerts = sa.Table(
    "alerts",
    metadata,
    # The controller's idempotency key for the alert: each is raised once.
    sa.Column("id", sa.String(512), primary_key=True),
    sa.Column("subject", sa.String(KEY_LENGTH + 16), nullable=False, index=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

experiments = sa.Table(
    "experiments",
    metadata,
    _key("environment", sa.ForeignKey("environments.key"), primary_key=True),
    _key("name", primary_key=True),
    _key("flag", nullable=False),
    # The registered contract as submitted (metrics resolved), and the controller's state.
    _json("contract"),
    _json("state"),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_by", sa.String(256), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)
