"""Flag changes: compare-and-swap writes, the kill switch, and delete — each with its receipt.

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
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rampgate.config import flag_from_document, flag_to_document
from rampgate.domain.model import Flag

from .audit import canonical_json, lock_writes
from .db import insert_if_absent
from .environments import bump_ruleset, check_key, get_environment
from .errors import AlreadyExists, NotFound, StoreError, VersionConflict
from .flags import FlagRecord, current_flag, flag_resource
from .receipts import Receipt, new_change_id, record_change
from .schema import flag_versions, flags, utcnow

__all__ = ["create_flag", "delete_flag", "kill_flag", "unkill_flag", "update_flag"]


# The statements every flag change runs, built once: building one costs more than running it.
_INSERT_VERSION = flag_versions.insert()
_SWAP = flags.update().where(  # (a column's own name is reserved for its new value)
    flags.c.environment == sa.bindparam("in_environment"),
    flags.c.key == sa.bindparam("in_key"),
    flags.c.version == sa.bindparam("expected_version"),
)


def _document(flag: Flag, *, version: int, killed: bool, pin_generation: int) -> dict[str, Any]:
    """The document to store, checked to read back: every SDK will parse exactly this.

    A ``Flag`` can hold what the file format refuses (weights that do not add up to 1); such a
    flag is refused here with the codec's ``ConfigError`` instead of being stored unreadable.
    """
    document = flag_to_document(
        replace(flag, version=version, killed=killed, pin_generation=pin_generation)
    )
    flag_from_document(flag.key, document)
    return document


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
            _INSERT_VERSION,
            {
                "environment": environment,
                "key": key,
                "version": after_version,
                "document": document,
                "action": action,
                "change_id": change_id,
                "actor": actor,
                "created_at": now,
            },
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
    stored = current_flag(conn, environment, key)
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
    if current_flag(conn, environment, key) is not None:
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
    inserted = insert_if_absent(
        conn,
        flags,
        {
            "environment": environment,
            "key": key,
            "version": document["version"],
            "document": document,
            "created_at": now,
            "updated_at": now,
            "updated_by": actor,
        },
    )
    if not inserted:
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
        _SWAP,
        {
            "in_environment": environment,
            "in_key": key,
            "expected_version": expected_version,
            "version": document["version"],
            "document": document,
            "updated_at": now,
            "updated_by": actor,
        },
    )
    if result.rowcount != 1:
        _raise_stale(conn, environment, key, expected_version)


def _raise_stale(conn: Connection, environment: str, key: str, expected_version: int) -> None:
    current = current_flag(conn, environment, key)
    resource = flag_resource(environment, key)
    if current is None:
        raise NotFound(resource)
    raise VersionConflict(resource, expected=expected_version, current=current.version)


def _locked_current(
    conn: Connection, environment: str, key: str, expected_version: int | None
) -> FlagRecord:
    """Take the write lock, then the current row, checking the expected version if given."""
    lock_writes(conn)
    current = current_flag(conn, environment, key)
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
    return _replace(
        conn,
        environment,
        key,
        current,
        document,
        action="flag.update",
        actor=actor,
        idempotency_key=idempotency_key,
        detail=detail,
    )


def _replace(
    conn: Connection,
    environment: str,
    key: str,
    current: FlagRecord,
    document: dict[str, Any],
    *,
    action: str,
    actor: str,
    idempotency_key: str | None,
    detail: Mapping[str, Any] | None,
) -> Receipt:
    """Swap ``current`` for ``document`` (compare-and-swap) and record the change."""
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
        action=action,
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
    action = "flag.kill" if killed else "flag.unkill"
    return _replace(
        conn,
        environment,
        key,
        current,
        document,
        action=action,
        actor=actor,
        idempotency_key=idempotency_key,
        detail=detail,
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
