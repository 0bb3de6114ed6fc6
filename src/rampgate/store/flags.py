"""Flags: the current definition per environment, every version kept, compare-and-swap writes.

A flag is stored as the document :func:`rampgate.config.flag_to_document` writes — the same
JSON a person puts in ``rampgate.yaml`` plus ``version``, ``killed`` and ``pin_generation`` —
so what the server stores is what it sends to SDKs and what :func:`flag_from_document` reads.

Every write names the version it expects. ``UPDATE … WHERE version = :expected`` makes a stale
write touch no row, and the caller gets :class:`VersionConflict` with the current version
instead of silently overwriting someone else's change. Each change writes, in one transaction:
the current row, an immutable row in ``flag_versions``, the environment's new ruleset version,
a receipt and an audit entry. Versions keep counting across a delete and a re-create, so an
SDK never sees a version number go backwards or mean two different documents.

The kill switch is part of the flag's state, not of its definition: :func:`update_flag` carries
``killed`` and ``pin_generation`` over from the current version, so syncing a config file never
silently revives a killed flag; only :func:`kill_flag` and :func:`unkill_flag` change it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rampgate.config import flag_from_document, flag_to_document
from rampgate.domain.model import Flag

from .audit import canonical_json, lock_writes
from .db import insert_ignoring_conflicts
from .environments import bump_ruleset, check_key, environment_resource, get_environment
from .errors import AlreadyExists, NotFound, StoreError, VersionConflict
from .receipts import Receipt, new_change_id, record_change
from .schema import environments, flag_versions, flags, utcnow

__all__ = [
    "FlagRecord",
    "FlagVersion",
    "RulesetSnapshot",
    "create_flag",
    "delete_flag",
    "flag_history",
    "flag_resource",
    "get_flag",
    "get_flag_version",
    "kill_flag",
    "list_flags",
    "load_ruleset",
    "unkill_flag",
    "update_flag",
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


def _current(conn: Connection, environment: str, key: str) -> FlagRecord | None:
    row = conn.execute(
        sa.select(flags).where(flags.c.environment == environment, flags.c.key == key)
    ).one_or_none()
    return _record(row) if row is not None else None


def _document(flag: Flag, *, version: int, killed: bool, pin_generation: int) -> dict[str, Any]:
    return flag_to_document(
        replace(flag, version=version, killed=killed, pin_generation=pin_generation)
    )


def _digest(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def _apply(
    conn: Connection,
    *,
    environment: str,
    key: str,
    action: str,
    before: FlagRecord | None,
    document: dict[str, Any] | None,
    actor: str,
    idempotency_key: str | None,
    detail: Mapping[str, Any] | None,
    now: datetime,
) -> Receipt:
    """Write one change: current row (done by the caller), version row, ruleset, receipt."""
    change_id = new_change_id()
    after_version = int(document["version"]) if document is not None else None
    if document is not None:
        conn.execute(
            flag_versions.insert().values(
                environment=environment,
                key=key,
                version=after_version,
                document=document,
                action=action,
                change_id=change_id,
                actor=actor,
                created_at=now,
            )
        )
        _check_applied(conn, environment, key, document)
    ruleset = bump_ruleset(conn, environment)
    return record_change(
        conn,
        actor=actor,
        action=action,
        resource=flag_resource(environment, key),
        before_version=before.version if before is not None else None,
        after_version=after_version,
        idempotency_key=idempotency_key,
        detail={
            **(detail or {}),
            "environment": environment,
            "flag": key,
            "ruleset_version": ruleset,
            "document_sha256": _digest(document) if document is not None else None,
        },
        change_id=change_id,
        now=now,
    )


def _check_applied(conn: Connection, environment: str, key: str, document: dict[str, Any]) -> None:
    """Read the write back: the stored document must be the one sent, key order included."""
    stored = _current(conn, environment, key)
    if stored is None or json.dumps(stored.document) != json.dumps(document):
        raise StoreError(
            f"{flag_resource(environment, key)}: the stored document differs from the one "
            "written; the change was rolled back"
        )


def create_flag(
    conn: Connection,
    environment: str,
    flag: Flag,
    *,
    actor: str,
    idempotency_key: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Receipt:
    """Create ``flag`` in ``environment`` (``AlreadyExists`` if the key is taken).

    Its version is 1, or one past the last version if the key was deleted before.
    """
    key = check_key(flag.key, what="flag")
    lock_writes(conn)
    get_environment(conn, environment)
    resource = flag_resource(environment, key)
    if _current(conn, environment, key) is not None:
        raise AlreadyExists(resource)
    last = conn.execute(
        sa.select(sa.func.max(flag_versions.c.version)).where(
            flag_versions.c.environment == environment, flag_versions.c.key == key
        )
    ).scalar_one()
    document = _document(
        flag, version=int(last or 0) + 1, killed=flag.killed, pin_generation=flag.pin_generation
    )
    now = utcnow()
    inserted = conn.execute(
        insert_ignoring_conflicts(conn, flags).values(
            environment=environment,
            key=key,
            version=document["version"],
            document=document,
            created_at=now,
            updated_at=now,
            updated_by=actor,
        )
    )
    if inserted.rowcount != 1:
        raise AlreadyExists(resource)
    return _apply(
        conn,
        environment=environment,
        key=key,
        action="flag.create",
        before=None,
        document=document,
        actor=actor,
        idempotency_key=idempotency_key,
        detail=detail,
        now=now,
    )


def _swap(
    conn: Connection,
    environment: str,
    key: str,
    *,
    expected_version: int,
    document: dict[str, Any],
    actor: str,
    now: datetime,
) -> None:
    """The compare-and-swap itself: replace the row only if it is still at ``expected_version``."""
    result = conn.execute(
        flags.update()
        .where(
            flags.c.environment == environment,
            flags.c.key == key,
            flags.c.version == expected_version,
        )
        .values(version=document["version"], document=document, updated_at=now, updated_by=actor)
    )
    if result.rowcount != 1:
        _raise_stale(conn, environment, key, expected_version)


def _raise_stale(conn: Connection, environment: str, key: str, expected_version: int) -> None:
    current = _current(conn, environment, key)
    resource = flag_resource(environment, key)
    if current is None:
        raise NotFound(resource)
    raise VersionConflict(resource, expected=expected_version, current=current.version)


def _locked_current(
    conn: Connection, environment: str, key: str, expected_version: int | None
) -> FlagRecord:
    """Take the write lock, then the current row, checking the expected version if given."""
    lock_writes(conn)
    current = _current(conn, environment, key)
    if current is None:
        raise NotFound(flag_resource(environment, key))
    if expected_version is not None and current.version != expected_version:
        raise VersionConflict(
            flag_resource(environment, key), expected=expected_version, current=current.version
        )
    return current


def update_flag(
    conn: Connection,
    environment: str,
    flag: Flag,
    *,
    expected_version: int,
    actor: str,
    raise_pin_generation: bool = False,
    idempotency_key: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Receipt:
    """Replace the definition of ``flag`` if it is still at ``expected_version``.

    ``killed`` comes from the current version, not from ``flag``. ``raise_pin_generation``
    (a hard rollback) makes SDKs drop the session pins made under earlier versions.
    """
    key = check_key(flag.key, what="flag")
    current = _locked_current(conn, environment, key, expected_version)
    generation = max(current.pin_generation, flag.pin_generation) + int(raise_pin_generation)
    document = _document(
        flag, version=current.version + 1, killed=current.killed, pin_generation=generation
    )
    now = utcnow()
    _swap(
        conn,
        environment,
        key,
        expected_version=current.version,
        document=document,
        actor=actor,
        now=now,
    )
    return _apply(
        conn,
        environment=environment,
        key=key,
        action="flag.update",
        before=current,
        document=document,
        actor=actor,
        idempotency_key=idempotency_key,
        detail=detail,
        now=now,
    )


def _set_killed(
    conn: Connection,
    environment: str,
    key: str,
    *,
    killed: bool,
    actor: str,
    expected_version: int | None,
    idempotency_key: str | None,
    detail: Mapping[str, Any] | None,
) -> Receipt:
    current = _locked_current(conn, environment, key, expected_version)
    document = {k: v for k, v in current.document.items() if k not in ("killed", "version")}
    if killed:
        # Same spelling as flag_to_document: "killed" only when true.
        document["killed"] = True
        document["pin_generation"] = current.pin_generation + 1
    document["version"] = current.version + 1
    now = utcnow()
    _swap(
        conn,
        environment,
        key,
        expected_version=current.version,
        document=document,
        actor=actor,
        now=now,
    )
    return _apply(
        conn,
        environment=environment,
        key=key,
        action="flag.kill" if killed else "flag.unkill",
        before=current,
        document=document,
        actor=actor,
        idempotency_key=idempotency_key,
        detail=detail,
        now=now,
    )


def kill_flag(
    conn: Connection,
    environment: str,
    key: str,
    *,
    actor: str,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Receipt:
    """Force the flag to its safe default: a new version with ``killed`` set.

    It raises ``pin_generation`` too, so pinned sessions are dropped — a kill overrides every
    pin. ``expected_version`` is optional: in an emergency the switch must not wait for a
    re-read.
    """
    return _set_killed(
        conn,
        environment,
        key,
        killed=True,
        actor=actor,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
        detail=detail,
    )


def unkill_flag(
    conn: Connection,
    environment: str,
    key: str,
    *,
    actor: str,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Receipt:
    """Serve the flag's rules again: a new version without ``killed``."""
    return _set_killed(
        conn,
        environment,
        key,
        killed=False,
        actor=actor,
        expected_version=expected_version,
        idempotency_key=idempotency_key,
        detail=detail,
    )


def delete_flag(
    conn: Connection,
    environment: str,
    key: str,
    *,
    expected_version: int,
    actor: str,
    idempotency_key: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Receipt:
    """Delete the flag if it is still at ``expected_version``; its history stays."""
    current = _locked_current(conn, environment, key, expected_version)
    result = conn.execute(
        flags.delete().where(
            flags.c.environment == environment,
            flags.c.key == key,
            flags.c.version == expected_version,
        )
    )
    if result.rowcount != 1:
        _raise_stale(conn, environment, key, expected_version)
    return _apply(
        conn,
        environment=environment,
        key=key,
        action="flag.delete",
        before=current,
        document=None,
        actor=actor,
        idempotency_key=idempotency_key,
        detail=detail,
        now=utcnow(),
    )


def get_flag(conn: Connection, environment: str, key: str) -> FlagRecord:
    current = _current(conn, environment, key)
    if current is None:
        raise NotFound(flag_resource(environment, key))
    return current


def load_ruleset(conn: Connection, environment: str) -> RulesetSnapshot:
    """The environment's flags and ruleset version, read in one statement.

    One statement is one snapshot on every database and isolation level: the version and the
    flags always belong together.
    """
    rows = conn.execute(
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
        .where(environments.c.key == environment)
        .order_by(flags.c.key)
    ).all()
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
