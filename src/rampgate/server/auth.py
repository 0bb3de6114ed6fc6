"""Bearer tokens: admin tokens may do everything; SDK tokens read one environment's ruleset
and write that environment's events, nothing else. Missing or unknown token: 401. Wrong kind or
environment: 403. Only a hash of each token is stored."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from rampgate.store import db
from rampgate.store.tokens import Token, TokenKind, authenticate

from .problems import ApiError

__all__ = ["Principal", "principal", "require_admin", "require_environment", "sdk_principal"]

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="rampgate"'}


@dataclass(frozen=True, slots=True)
class Principal:
    token: Token

    @property
    def actor(self) -> str:
        """Who a receipt and an audit row name: the token's name, else its id."""
        return f"token:{self.token.name or self.token.id}"


def principal(request: Request) -> Principal:
    """Whoever the bearer token names: 401 when missing, unknown or revoked."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(
            401,
            "Unauthorized",
            "missing bearer token",
            field="Authorization",
            fix="send Authorization: Bearer <token> (create one with `rampgate token create`)",
            headers=_CHALLENGE,
        )
    with db.read(request.app.state.engine) as conn:
        token = authenticate(conn, value.strip())
    if token is None:
        raise ApiError(
            401,
            "Unauthorized",
            "unknown or revoked token",
            field="Authorization",
            fix="use a current token",
            headers=_CHALLENGE,
        )
    return Principal(token)


def require_admin(request: Request) -> Principal:
    who = principal(request)
    if who.token.kind is not TokenKind.ADMIN:
        raise ApiError(
            403,
            "Forbidden",
            "this route needs an admin token",
            field="Authorization",
            fix="use an admin token; SDK tokens only read rulesets and send events",
        )
    return who


def require_environment(request: Request, environment: str) -> Principal:
    """An admin token, or an SDK token of ``environment``."""
    who = principal(request)
    token = who.token
    if token.kind is TokenKind.ADMIN:
        return who
    if token.environment != environment:
        raise ApiError(
            403,
            "Forbidden",
            f"this SDK token belongs to environment {token.environment!r}, not {environment!r}",
            field="Authorization",
            fix=f"use an SDK token of {environment!r}",
        )
    return who


def sdk_principal(request: Request) -> Principal:
    """An SDK token: the environment it belongs to is the one served."""
    who = principal(request)
    if who.token.kind is not TokenKind.SDK or who.token.environment is None:
        raise ApiError(
            403,
            "Forbidden",
            "this route needs an SDK token",
            field="Authorization",
            fix="create one with `rampgate token create --kind sdk --env ENV`",
        )
    return who
