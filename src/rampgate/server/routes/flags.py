"""Flags of an environment: read (ETag), create or update (If-Match), delete, kill, history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Connection

from rampgate.config import flag_from_document
from rampgate.server.auth import Principal, require_admin
from rampgate.server.changes import apply_change, expected_version, required_version
from rampgate.server.models import FlagIn, KillIn
from rampgate.store import db
from rampgate.store.flag_changes import (
    create_flag,
    delete_flag,
    kill_flag,
    unkill_flag,
    update_flag,
)
from rampgate.store.flags import current_flag, flag_history, get_flag, list_flags

router = APIRouter(prefix="/api/v1/environments/{environment}/flags", tags=["flags"])
Env = Annotated[str, Path(description="environment key, e.g. prod")]
FlagKey = Annotated[str, Path(description="flag key")]
Admin = Annotated[Principal, Depends(require_admin)]
RECEIPT = {"description": "the change's receipt (change_id, before and after versions)"}


@router.get("", summary="List the environment's flags")
def list_all(environment: Env, request: Request, _: Admin) -> list[dict[str, Any]]:
    with db.read(request.app.state.engine) as conn:
        return [record.to_json() for record in list_flags(conn, environment)]


@router.get("/{key}", summary="Read a flag (its ETag is the version)")
def read(environment: Env, key: FlagKey, request: Request, _: Admin) -> JSONResponse:
    with db.read(request.app.state.engine) as conn:
        record = get_flag(conn, environment, key)
    return JSONResponse(record.to_json(), headers={"ETag": f'"{record.version}"'})


@router.put(
    "/{key}",
    summary="Create a flag, or update it with If-Match",
    responses={
        200: RECEIPT,
        201: RECEIPT,
        409: {"description": "stale If-Match"},
        428: {"description": "update without If-Match"},
    },
)
def put(environment: Env, key: FlagKey, body: FlagIn, request: Request, who: Admin) -> JSONResponse:
    document = body.document()
    flag = flag_from_document(key, document, source="<api>", path="body")
    expected = expected_version(request)

    def change(conn: Connection, idem: str | None) -> tuple[int, dict[str, Any]]:
        if expected is None:
            if current_flag(conn, environment, key) is not None:
                required_version(request)  # raises 428: an update needs If-Match
            receipt = create_flag(conn, environment, flag, actor=who.actor, idempotency_key=idem)
            return 201, receipt.to_json()
        receipt = update_flag(
            conn,
            environment,
            flag,
            expected_version=expected,
            actor=who.actor,
            idempotency_key=idem,
        )
        return 200, receipt.to_json()

    return apply_change(request, {"key": key, "flag": document, "if_match": expected}, change)


@router.delete("/{key}", summary="Delete a flag (If-Match required)", responses={200: RECEIPT})
def delete(environment: Env, key: FlagKey, request: Request, who: Admin) -> JSONResponse:
    expected = required_version(request)

    def change(conn: Connection, idem: str | None) -> tuple[int, dict[str, Any]]:
        receipt = delete_flag(
            conn, environment, key, expected_version=expected, actor=who.actor, idempotency_key=idem
        )
        return 200, receipt.to_json()

    return apply_change(request, {"if_match": expected}, change)


def _switch(
    request: Request, environment: str, key: str, who: Principal, body: KillIn, kill: bool
) -> JSONResponse:
    expected = expected_version(request)
    detail = {"reason": body.reason} if body.reason else None
    action = kill_flag if kill else unkill_flag

    def change(conn: Connection, idem: str | None) -> tuple[int, dict[str, Any]]:
        receipt = action(
            conn,
            environment,
            key,
            actor=who.actor,
            expected_version=expected,
            idempotency_key=idem,
            detail=detail,
        )
        return 200, receipt.to_json()

    response = apply_change(request, {"reason": body.reason, "if_match": expected}, change)
    # A rollout on this flag must end now, not at the controller's next interval.
    request.app.state.controller.nudge()
    return response


@router.post(
    "/{key}/kill",
    summary="Kill switch: everyone gets the safe variant, pins dropped",
    responses={200: RECEIPT},
)
def kill(
    environment: Env, key: FlagKey, request: Request, who: Admin, body: KillIn | None = None
) -> JSONResponse:
    return _switch(request, environment, key, who, body or KillIn(reason=""), kill=True)


@router.post("/{key}/unkill", summary="Undo the kill switch", responses={200: RECEIPT})
def unkill(
    environment: Env, key: FlagKey, request: Request, who: Admin, body: KillIn | None = None
) -> JSONResponse:
    return _switch(request, environment, key, who, body or KillIn(reason=""), kill=False)


@router.get("/{key}/versions", summary="Every version of the flag, newest first")
def versions(environment: Env, key: FlagKey, request: Request, _: Admin) -> list[dict[str, Any]]:
    with db.read(request.app.state.engine) as conn:
        get_flag(conn, environment, key)  # 404 for an unknown flag rather than an empty list
        return [v.to_json() for v in reversed(flag_history(conn, environment, key))]
