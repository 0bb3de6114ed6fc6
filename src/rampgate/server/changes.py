"""The one path every mutating request takes: idempotency, one transaction, a receipt, a push.

``Idempotency-Key`` with the same request returns the stored response (header
``Idempotent-Replayed: true``) and changes nothing; with a different request it is a 422.
The change, its receipt, its audit row and the idempotency record commit together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Connection

from rampgate.store import db
from rampgate.store.errors import IdempotentReplay
from rampgate.store.idempotency import claim, remember, request_fingerprint

from .problems import ApiError

__all__ = ["apply_change", "expected_version", "request_idempotency_key", "required_version"]

Change = Callable[[Connection, str | None], tuple[int, dict[str, Any]]]


def request_idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 255:
        raise ApiError(
            400,
            "Bad request",
            "Idempotency-Key must be 1 to 255 characters",
            field="Idempotency-Key",
            fix="send a UUID or another short unique string",
        )
    return key


def apply_change(request: Request, body: Any, change: Change) -> JSONResponse:
    """Run ``change(conn, idempotency_key) -> (status, payload)`` exactly once per key."""
    key = request_idempotency_key(request)
    scope = f"{request.method} {request.url.path}"
    fingerprint = request_fingerprint(request.method, request.url.path, body)
    try:
        with db.write(request.app.state.engine) as conn:
            if key is not None:
                stored = claim(conn, key, scope, fingerprint)
                if stored is not None:
                    return _replayed(stored.status_code, stored.response)
            status, payload = change(conn, key)
            if key is not None:
                remember(conn, key, scope, fingerprint, status_code=status, response=payload)
    except IdempotentReplay as replay:
        return _replayed(replay.stored.status_code, replay.stored.response)
    detail = payload.get("detail") or {}
    request.app.state.hub.published(detail.get("environment"), detail.get("ruleset_version"))
    headers = {"ETag": f'"{payload["after_version"]}"'} if payload.get("after_version") else None
    return JSONResponse(payload, status_code=status, headers=headers)


def _replayed(status: int, payload: Any) -> JSONResponse:
    return JSONResponse(payload, status_code=status, headers={"Idempotent-Replayed": "true"})


def required_version(request: Request) -> int:
    """The version named by ``If-Match``; a 428 when it is missing."""
    version = expected_version(request)
    if version is None:
        raise ApiError(
            428,
            "Precondition required",
            "this change needs If-Match with the current version",
            field="If-Match",
            fix='read the resource and send If-Match: "<its version>" (its ETag)',
        )
    return version


def expected_version(request: Request) -> int | None:
    """The version named by ``If-Match`` (``"3"``, ``3`` or ``W/"3"``), if any."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    text = raw.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise ApiError(
            400,
            "Bad request",
            f"If-Match {raw!r} is not a version",
            field="If-Match",
            fix='send the ETag of the resource, e.g. If-Match: "3"',
        )
    return int(text)
