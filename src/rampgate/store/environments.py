"""Environments and their ruleset version — the number SDKs compare to know they are current.

Every flag change bumps its environment's ``ruleset_version`` in the same transaction, so the
number moves exactly when what an SDK evaluates moves, and in commit order (the bump takes the
environment row's lock). On PostgreSQL the bump also sends ``NOTIFY rampgate_ruleset`` with
``{"environment": …, "version": …, "schema": …}``; PostgreSQL delivers it on commit — never for
a change that rolled back — so every server replica learns of the change and pushes it to its
SDKs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rampgate.config.flags import KEY, KEY_EXPECTED
from rampgate.errors import ConfigError

from .audit import lock_writes
from .db import insert_if_absent, is_postgresql
from .errors import AlreadyExists, NotFound
from .receipts import Receipt, record_change
from .schema import environments, utcnow

__all__ = [
    "RULESET_CHANNEL",
    "EnvironmentRecord",
    "bump_ruleset",
    "check_key",
    "create_environment",
    "environment_resource",
    "get_environment",
    "list_environments",
    "ruleset_version",
]

RULESET_CHANNEL = "rampgate_ruleset"


def check_key(key: str, *, what: str) -> str:
    """``key`` if it is a valid environment or flag key, else a ``ConfigError`` saying why."""
    if not isinstance(key, str) or not KEY.match(key):
        raise ConfigError(f"bad {what} key {key!r}", path=what, expected=KEY_EXPECTED)
    return key


def environment_resource(key: str) -> str:
    return f"environments/{key}"


@dataclass(frozen=True, slots=True)
class EnvironmentRecord:
    key: str
    description: str
    version: int
    ruleset_version: int
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "description": self.description,
            "version": self.version,
            "ruleset_version": self.ruleset_version,
            "created_at": self.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "updated_at": self.updated_at.astimezone(UTC).isoformat(timespec="microseconds"),
        }


def _record(row: sa.Row[Any]) -> EnvironmentRecord:
    return EnvironmentRecord(
        key=row.key,
        description=row.description,
        version=int(row.version),
        ruleset_version=int(row.ruleset_version),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def create_environment(
    conn: Connection,
    key: str,
    *,
    actor: str,
    description: str = "",
    idempotency_key: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Receipt:
    """Create an environment at version 1 with an empty ruleset (``AlreadyExists`` if taken)."""
    check_key(key, what="environment")
    lock_writes(conn)
    now = utcnow()
    inserted = insert_if_absent(
        conn,
        environments,
        {
            "key": key,
            "description": description,
            "version": 1,
            "ruleset_version": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    if not inserted:
        raise AlreadyExists(environment_resource(key))
    return record_change(
        conn,
        actor=actor,
        action="environment.create",
        resource=environment_resource(key),
        before_version=None,
        after_version=1,
        idempotency_key=idempotency_key,
        detail={**(detail or {}), "environment": key, "description": description},
        now=now,
    )


def get_environment(conn: Connection, key: str) -> EnvironmentRecord:
    row = conn.execute(sa.select(environments).where(environments.c.key == key)).one_or_none()
    if row is None:
        raise NotFound(environment_resource(key))
    return _record(row)


def list_environments(conn: Connection) -> list[EnvironmentRecord]:
    rows = conn.execute(sa.select(environments).order_by(environments.c.key))
    return [_record(row) for row in rows]


def ruleset_version(conn: Connection, environment: str) -> int:
    """The environment's current ruleset version (0 before its first flag change)."""
    value = conn.execute(
        sa.select(environments.c.ruleset_version).where(environments.c.key == environment)
    ).scalar_one_or_none()
    if value is None:
        raise NotFound(environment_resource(environment))
    return int(value)


_BUMP = (  # built once: every change runs it
    environments.update()
    .where(environments.c.key == sa.bindparam("environment"))
    .values(ruleset_version=environments.c.ruleset_version + 1)
    .returning(environments.c.ruleset_version)
)


def bump_ruleset(conn: Connection, environment: str) -> int:
    """Advance the environment's ruleset version by one (and notify replicas on PostgreSQL).

    Call it in the transaction of every change to what the environment's SDKs evaluate.
    """
    value = conn.execute(_BUMP, {"environment": environment}).scalar_one_or_none()
    if value is None:
        raise NotFound(environment_resource(environment))
    version = int(value)
    if is_postgresql(conn):
        # The schema tells apart installations that share one database.
        payload = sa.func.json_build_object(
            "environment", environment, "version", version, "schema", sa.func.current_schema()
        )
        conn.execute(sa.select(sa.func.pg_notify(RULESET_CHANNEL, sa.cast(payload, sa.Text))))
    return version
