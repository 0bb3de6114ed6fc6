"""Flags as stored: the current definition per environment and every version ever written.

A flag is stored as the document :func:`rampgate.config.flag_to_document` writes — the same
JSON a person puts in ``rampgate.yaml`` plus ``version``, ``killed`` and ``pin_generation`` —
so what the server stores is what it sends to SDKs and what :func:`flag_from_document` reads.
This module reads; :mod:`rampgate.store.flag_changes` writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rampgate.config import flag_from_document
from rampgate.domain.model import Flag

from .environments import environment_resource
from .errors import NotFound
from .schema import environments, flag_versions, flags

__all__ = [
    "FlagRecord",
    "FlagVersion",
    "RulesetSnapshot",
    "current_flag",
    "flag_history",
    "flag_resource",
    "get_flag",
    "get_flag_version",
    "list_flags",
    "load_ruleset",
]


def flag_resource(environment: str, key: str) -> str:
    return f"environments/{environment}/flags/{key}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class FlagRecord:
    """The current definition of a flag in one environment."""

    environment: str
    key: str
    version: int
    document: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    updated_by: str

    @property
    def killed(self) -> bool:
        return bool(self.document.get("killed", False))

    @property
    def pin_generation(self) -> int:
        return int(self.document.get("pin_generation", 0))

    def flag(self) -> Flag:
        """The domain flag (parsed and checked by the config codec)."""
        return flag_from_document(self.key, self.document)

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "key": self.key,
            "version": self.version,
            "document": self.document,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "updated_by": self.updated_by,
        }


@dataclass(frozen=True, slots=True)
class FlagVersion:
    """One immutable version of a flag, with the change that made it."""

    environment: str
    key: str
    version: int
    document: dict[str, Any]
    action: str
    change_id: str
    actor: str
    created_at: datetime

    def flag(self) -> Flag:
        return flag_from_document(self.key, self.document)

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "key": self.key,
            "version": self.version,
            "document": self.document,
            "action": self.action,
            "change_id": self.change_id,
            "actor": self.actor,
            "created_at": _iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class RulesetSnapshot:
    """Everything an SDK evaluates in one environment, at one ruleset version."""

    environment: str
    version: int
    flags: tuple[FlagRecord, ...]

    def documents(self) -> dict[str, dict[str, Any]]:
        return {record.key: record.document for record in self.flags}


def _record(row: Any) -> FlagRecord:  # any row with the flags columns
    return FlagRecord(
        environment=row.environment,
        key=row.key,
        version=int(row.version),
        document=row.document,
        created_at=row.created_at,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def _version(row: sa.Row[Any]) -> FlagVersion:
    return FlagVersion(
        environment=row.environment,
        key=row.key,
        version=int(row.version),
        document=row.document,
        action=row.action,
        change_id=row.change_id,
        actor=row.actor,
        created_at=row.created_at,
    )


_CURRENT = sa.select(flags).where(  # built once: every flag change reads it
    flags.c.environment == sa.bindparam("environment"), flags.c.key == sa.bindparam("key")
)


def current_flag(conn: Connection, environment: str, key: str) -> FlagRecord | None:
    """The flag's current record, or ``None`` if it does not exist (now)."""
    row = conn.execute(_CURRENT, {"environment": environment, "key": key}).one_or_none()
    return _record(row) if row is not None else None


def get_flag(conn: Connection, environment: str, key: str) -> FlagRecord:
    current = current_flag(conn, environment, key)
    if current is None:
        raise NotFound(flag_resource(environment, key))
    return current


_RULESET = (  # built once: read after every change, for every SDK
    sa.select(
        environments.c.ruleset_version,
        flags.c.environment,
        flags.c.key,
        flags.c.version,
        flags.c.document,
        flags.c.created_at,
        flags.c.updated_at,
        flags.c.updated_by,
    )
    .select_from(environments.outerjoin(flags, flags.c.environment == environments.c.key))
    .where(environments.c.key == sa.bindparam("environment"))
    .order_by(flags.c.key)
)


def load_ruleset(conn: Connection, environment: str) -> RulesetSnapshot:
    """The environment's flags and ruleset version, read in one statement.

    One statement is one snapshot on every database and isolation level: the version and the
    flags always belong together.
    """
    rows = conn.execute(_RULESET, {"environment": environment}).all()
    if not rows:
        raise NotFound(environment_resource(environment))
    records = tuple(_record(row) for row in rows if row.key is not None)
    return RulesetSnapshot(environment, int(rows[0].ruleset_version), records)


def list_flags(conn: Connection, environment: str) -> list[FlagRecord]:
    """The environment's current flags, by key (``NotFound`` if the environment is unknown)."""
    return list(load_ruleset(conn, environment).flags)


def flag_history(conn: Connection, environment: str, key: str) -> list[FlagVersion]:
    """Every version of the flag, oldest first, including those before a delete."""
    rows = conn.execute(
        sa.select(flag_versions)
        .where(flag_versions.c.environment == environment, flag_versions.c.key == key)
        .order_by(flag_versions.c.version)
    ).all()
    if not rows:
        raise NotFound(flag_resource(environment, key))
    return [_version(row) for row in rows]


def get_flag_version(conn: Connection, environment: str, key: str, version: int) -> FlagVersion:
    row = conn.execute(
        sa.select(flag_versions).where(
            flag_versions.c.environment == environment,
            flag_versions.c.key == key,
            flag_versions.c.version == version,
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"{flag_resource(environment, key)}/versions/{version}")
    return _version(row)
