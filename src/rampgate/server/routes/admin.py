"""Environments, tokens, audit log and receipts."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime
from sqlalchemy.engine import Connection

from rampgate.server.auth import Principal, require_admin
from rampgate.server.changes import apply_change
from rampgate.server.models import EnvironmentIn, TokenIn
from rampgate.server.problems import ApiError
from rampgate.store import db
from rampgate.store.audit import list_audit, verify
from rampgate.store.environments import create_environment, get_environment, list_environments
from rampgate.store.receipts import get_receipt
from rampgate.store.tokens import create_token, list_tokens, revoke_token

router = APIRouter(prefix="/api/v1")
Admin = Annotated[Principal, Depends(require_admin)]


@router.get("/environments", tags=["environments"], summary="List environments")
def environments(request: Request, _: Admin) -> list[dict[str, Any]]:
    with db.read(request.app.state.engine) as conn:
        return [e.to_json() for e in list_environments(conn)]


@router.post(
    "/environments", tags=["environments"], status_code=201, summary="Create an environment"
)
def create_env(body: EnvironmentIn, request: Request, who: Admin) -> JSONResponse:
    def change(conn: Connection, idem: str | None) -> tuple[int, dict[str, Any]]:
        receipt = create_environment(
            conn, body.key, actor=who.actor, description=body.description, idempotency_key=idem
        )
        return 201, receipt.to_json()

    return apply_change(request, body.model_dump(), change)


@router.get("/environments/{environment}", tags=["environments"], summary="Read an environment")
def read_env(environment: Annotated[str, Path()], request: Request, _: Admin) -> dict[str, Any]:
    with db.read(request.app.state.engine) as conn:
        return get_environment(conn, environment).to_json()


@router.get("/tokens", tags=["tokens"], summary="List tokens (never their secrets)")
def tokens(
    request: Request, _: Admin, environment: str | None = None, include_revoked: bool = False
) -> list[dict[str, Any]]:
    with db.read(request.app.state.engine) as conn:
        return [
            t.to_json()
            for t in list_tokens(conn, environment=environment, include_revoked=include_revoked)
        ]


@router.post(
    "/tokens",
    tags=["tokens"],
    status_code=201,
    summary="Create a token; its secret is in this response only",
)
def new_token(body: TokenIn, request: Request, who: Admin) -> JSONResponse:
    if body.kind == "sdk" and body.environment is None:
        raise ApiError(
            422,
            "Invalid request",
            "an sdk token needs an environment",
            field="environment",
            fix="name the environment whose flags the SDK reads",
        )
    if body.kind == "admin" and body.environment is not None:
        raise ApiError(
            422,
            "Invalid request",
            "admin tokens are not scoped to an environment",
            field="environment",
            fix="leave environment out for an admin token",
        )
    with db.write(request.app.state.engine) as conn:
        if body.environment is not None:
            get_environment(conn, body.environment)  # 404 for an unknown environment
        token_id, secret = create_token(
            conn, body.kind, body.environment, body.name, actor=who.actor
        )
    # Not idempotent on purpose: replaying a stored response would hand out the secret twice.
    return JSONResponse(
        {
            "id": token_id,
            "token": secret,
            "kind": body.kind,
            "environment": body.environment,
            "name": body.name,
        },
        status_code=201,
    )


@router.delete("/tokens/{token_id}", tags=["tokens"], summary="Revoke a token")
def revoke(token_id: str, request: Request, who: Admin) -> JSONResponse:
    def change(conn: Connection, idem: str | None) -> tuple[int, dict[str, Any]]:
        return 200, revoke_token(conn, token_id, actor=who.actor).to_json()

    return apply_change(request, {"revoke": token_id}, change)


@router.get("/audit", tags=["audit"], summary="The audit log, oldest first, filtered")
def audit(
    request: Request,
    _: Admin,
    actor: str | None = None,
    action: str | None = None,
    resource: Annotated[
        str | None, Query(description="resource prefix, e.g. environments/prod")
    ] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    after_seq: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    for name, moment in (("since", since), ("until", until)):
        try:
            if moment is not None:
                moment.astimezone(UTC)
        except OverflowError:
            raise ApiError(
                422,
                "Invalid request",
                f"{name} lies outside years 1-9999 in UTC",
                field=name,
                fix="send a time between years 1 and 9999 (UTC)",
            ) from None
    with db.read(request.app.state.engine) as conn:
        rows = list_audit(
            conn,
            actor=actor,
            action=action,
            resource_prefix=resource,
            since=since,
            until=until,
            after_seq=after_seq,
            limit=limit,
        )
    return [row.to_json() for row in rows]


@router.post(
    "/audit/verify", tags=["audit"], summary="Check the hash chain; names the first broken link"
)
def audit_verify(request: Request, _: Admin) -> dict[str, Any]:
    with db.read(request.app.state.engine) as conn:
        return verify(conn).to_json()


@router.get("/receipts/{change_id}", tags=["audit"], summary="A change's receipt")
def receipt(change_id: str, request: Request, _: Admin) -> dict[str, Any]:
    with db.read(request.app.state.engine) as conn:
        return get_receipt(conn, change_id).to_json()
