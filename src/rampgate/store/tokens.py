"""API tokens: admin tokens (everything) and SDK tokens scoped to one environment.

A token's plaintext (``rg_admin_…`` / ``rg_sdk_…``, 256 random bits) is returned once, at
creation, and never stored: the table holds its sha256. A leaked database therefore leaks no
usable token, and authentication is one indexed lookup of the hash — a plain sha256 is enough
because the secret is random, not a password. Creating and revoking tokens are changes like any
other: they take the write lock and leave an audit entry (naming the token id, never the hash).
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rampgate.errors import ConfigError

from .audit import lock_writes
from .environments import get_environment
from .errors import NotFound
from .receipts import Receipt, record_change
from .schema import api_tokens, utcnow

__all__ = [
    "Token",
    "TokenKind",
    "authenticate",
    "bootstrap_admin",
    "create_token",
    "get_token",
    "has_admin",
    "hash_token",
    "list_tokens",
    "revoke_token",
]

PREFIX = "rg_"


class TokenKind(enum.StrEnum):
    ADMIN = "admin"
    SDK = "sdk"


@dataclass(frozen=True, slots=True)
class Token:
    """A token's record (never its plaintext or hash)."""

    id: str
    kind: TokenKind
    environment: str | None
    name: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": str(self.kind),
            "environment": self.environment,
            "name": self.name,
            "created_at": self.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "revoked_at": (
                self.revoked_at.astimezone(UTC).isoformat(timespec="microseconds")
                if self.revoked_at is not None
                else None
            ),
        }


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _token(row: sa.Row[Any]) -> Token:
    return Token(
        id=row.id,
        kind=TokenKind(row.kind),
        environment=row.environment,
        name=row.name,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def _resource(token_id: str) -> str:
    return f"tokens/{token_id}"


def create_token(
    conn: Connection,
    kind: TokenKind | str,
    environment: str | None = None,
    name: str = "",
    *,
    actor: str = "system",
) -> tuple[str, str]:
    """Create a token; return ``(token_id, plaintext)``. Show the plaintext once: it is not kept.

    An SDK token needs an existing ``environment``; an admin token must not have one.
    """
    try:
        kind = TokenKind(kind)
    except ValueError:
        raise ConfigError(
            f"unknown token kind {kind!r}", path="kind", expected="admin or sdk"
        ) from None
    if kind is TokenKind.SDK and not environment:
        raise ConfigError("an sdk token needs an environment", path="environment")
    if kind is TokenKind.ADMIN and environment:
        raise ConfigError(
            "an admin token is not scoped to an environment", path="environment", expected="none"
        )
    lock_writes(conn)
    if environment:
        get_environment(conn, environment)
    token_id = "tok_" + secrets.token_hex(8)
    plaintext = f"{PREFIX}{kind}_{secrets.token_urlsafe(32)}"
    now = utcnow()
    conn.execute(
        api_tokens.insert().values(
            id=token_id,
            kind=str(kind),
            environment=environment,
            token_hash=hash_token(plaintext),
            name=name,
            created_at=now,
            revoked_at=None,
        )
    )
    record_change(
        conn,
        actor=actor,
        action="token.create",
        resource=_resource(token_id),
        detail={"token_id": token_id, "kind": str(kind), "environment": environment, "name": name},
        now=now,
    )
    return token_id, plaintext


# Built once: every request runs it, and building a statement costs several times running it.
_ACTIVE_BY_HASH = sa.select(api_tokens).where(
    api_tokens.c.token_hash == sa.bindparam("token_hash"), api_tokens.c.revoked_at.is_(None)
)


def authenticate(conn: Connection, plaintext: str) -> Token | None:
    """The active token this plaintext belongs to, or ``None`` (unknown or revoked)."""
    if not plaintext.startswith(PREFIX):
        return None
    row = conn.execute(_ACTIVE_BY_HASH, {"token_hash": hash_token(plaintext)}).one_or_none()
    return _token(row) if row is not None else None


def get_token(conn: Connection, token_id: str) -> Token:
    row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).one_or_none()
    if row is None:
        raise NotFound(_resource(token_id))
    return _token(row)


def revoke_token(conn: Connection, token_id: str, *, actor: str) -> Receipt:
    """Revoke a token; it stops authenticating when this transaction commits.

    Revoking an already revoked token changes nothing but is still recorded.
    """
    lock_writes(conn)
    token = get_token(conn, token_id)
    now = utcnow()
    if token.revoked_at is None:
        conn.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(revoked_at=now))
    return record_change(
        conn,
        actor=actor,
        action="token.revoke",
        resource=_resource(token_id),
        detail={"token_id": token_id, "already_revoked": token.revoked_at is not None},
        now=now,
    )


def list_tokens(
    conn: Connection, *, environment: str | None = None, include_revoked: bool = False
) -> list[Token]:
    query = sa.select(api_tokens)
    if environment is not None:
        query = query.where(api_tokens.c.environment == environment)
    if not include_revoked:
        query = query.where(api_tokens.c.revoked_at.is_(None))
    rows = conn.execute(query.order_by(api_tokens.c.created_at, api_tokens.c.id))
    return [_token(row) for row in rows]


def has_admin(conn: Connection) -> bool:
    """Whether any active admin token exists (a fresh database has none)."""
    found = conn.execute(
        sa.select(api_tokens.c.id)
        .where(api_tokens.c.kind == TokenKind.ADMIN.value, api_tokens.c.revoked_at.is_(None))
        .limit(1)
    ).first()
    return found is not None


def bootstrap_admin(
    conn: Connection, *, name: str = "bootstrap", actor: str = "system"
) -> tuple[str, str] | None:
    """Create the first admin token if there is none; ``None`` if one already exists.

    Checked under the write lock, so two servers starting on a fresh database at once print
    one token between them, not two.
    """
    lock_writes(conn)
    if has_admin(conn):
        return None
    return create_token(conn, TokenKind.ADMIN, name=name, actor=actor)
