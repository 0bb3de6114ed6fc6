"""Idempotency records: the same key and request get the same response, never a second change.

The API wraps each mutating request that carries ``Idempotency-Key`` like this, in ONE
transaction::

    with db.write(engine) as conn:
        stored = idempotency.claim(conn, key, scope, request_hash)   # may raise IdempotencyMismatch
        if stored is not None:
            return stored.status_code, stored.response               # a replay: nothing changes
        receipt = flags.update_flag(conn, ...)                       # may raise VersionConflict
        idempotency.remember(conn, key, scope, request_hash,
                             status_code=200, response=receipt.to_json())

``claim`` inserts the record first, before the change. Two identical requests racing each
other therefore queue on the record's primary key: on PostgreSQL the second ``INSERT … ON
CONFLICT DO NOTHING`` waits for the first transaction, and finds its committed response (or,
if it rolled back, claims the key itself); on SQLite ``BEGIN IMMEDIATE`` runs them one after
the other. The loser replays the winner's receipt instead of failing with a version conflict.
A request that fails rolls back its claim with everything else, so a retry runs again.

:func:`lookup` then :func:`remember` without ``claim`` also works; if another request completed
the key in between, ``remember`` raises :class:`IdempotentReplay` carrying that response — the
caller rolls back its own change and answers with it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .audit import canonical_json
from .db import insert_if_absent
from .errors import IdempotencyMismatch, IdempotentReplay, StoreError
from .schema import idempotency, utcnow

__all__ = [
    "StoredResponse",
    "claim",
    "lookup",
    "purge_idempotency",
    "remember",
    "request_fingerprint",
]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """What the first request with this key answered."""

    status_code: int
    response: Any
    request_hash: str
    created_at: datetime


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """A sha256 of the request: method, path and the body's canonical JSON.

    Canonical JSON (sorted keys, no spaces) so that the same body sent twice by a client whose
    serialiser orders keys differently still counts as the same request.
    """
    text = canonical_json({"method": method.upper(), "path": path, "body": body})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _row(conn: Connection, key: str, scope: str) -> sa.Row[Any] | None:
    return conn.execute(
        sa.select(idempotency).where(idempotency.c.key == key, idempotency.c.scope == scope)
    ).one_or_none()


def _checked(
    row: sa.Row[Any], key: str, scope: str, request_hash: str | None
) -> StoredResponse | None:
    if request_hash is not None and row.request_hash != request_hash:
        raise IdempotencyMismatch(key, scope)
    if row.status_code is None:
        return None
    return StoredResponse(int(row.status_code), row.response, row.request_hash, row.created_at)


def lookup(
    conn: Connection, key: str, scope: str, request_hash: str | None = None
) -> StoredResponse | None:
    """The stored response for ``key`` in ``scope``, or ``None``.

    With ``request_hash``, a key used for a different request raises ``IdempotencyMismatch``.
    """
    row = _row(conn, key, scope)
    return _checked(row, key, scope, request_hash) if row is not None else None


def claim(conn: Connection, key: str, scope: str, request_hash: str) -> StoredResponse | None:
    """Reserve ``key`` for this request, or return the response it already has.

    ``None`` means: the key is yours for the rest of this transaction — perform the change,
    then :func:`remember` its response. A stored response means: replay it, change nothing.
    Raises ``IdempotencyMismatch`` if the key was used for a different request.
    """
    claimed = insert_if_absent(
        conn,
        idempotency,
        {
            "key": key,
            "scope": scope,
            "request_hash": request_hash,
            "status_code": None,
            "response": None,
            "created_at": utcnow(),
        },
    )
    if claimed:
        return None
    row = _row(conn, key, scope)
    if row is None:  # pragma: no cover - purged between the two statements
        return claim(conn, key, scope, request_hash)
    # A committed claim without a response can only be left by a caller that skipped
    # remember(); _checked returns None and this request takes the key over.
    return _checked(row, key, scope, request_hash)


def remember(
    conn: Connection,
    key: str,
    scope: str,
    request_hash: str,
    *,
    status_code: int,
    response: Any,
) -> None:
    """Store the response for ``key``, completing a :func:`claim` (or without one).

    Raises ``IdempotencyMismatch`` if the key belongs to a different request, and
    ``IdempotentReplay`` if an identical request completed it first.
    """
    completed = conn.execute(
        idempotency.update()
        .where(
            idempotency.c.key == key,
            idempotency.c.scope == scope,
            idempotency.c.request_hash == request_hash,
            idempotency.c.status_code.is_(None),
        )
        .values(status_code=status_code, response=response)
    )
    if completed.rowcount == 1:
        return
    inserted = insert_if_absent(
        conn,
        idempotency,
        {
            "key": key,
            "scope": scope,
            "request_hash": request_hash,
            "status_code": status_code,
            "response": response,
            "created_at": utcnow(),
        },
    )
    if inserted:
        return
    row = _row(conn, key, scope)
    stored = _checked(row, key, scope, request_hash) if row is not None else None
    if stored is None:  # pragma: no cover - a claim committed without remember(), then purged
        raise StoreError(f"idempotency key {key!r} for {scope} is in an inconsistent state")
    raise IdempotentReplay(key, scope, stored)


def purge_idempotency(conn: Connection, *, older_than: datetime) -> int:
    """Forget records created before ``older_than`` (a key is honoured for a window)."""
    result = conn.execute(idempotency.delete().where(idempotency.c.created_at < older_than))
    return int(result.rowcount)
