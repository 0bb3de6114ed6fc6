"""What SDKs use: the environment's ruleset (ETag/304), its SSE stream, and event ingestion."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from rampgate.server.auth import Principal, principal, require_environment, sdk_principal
from rampgate.server.models import EventsIn
from rampgate.server.problems import ApiError
from rampgate.store import db
from rampgate.store.environments import get_environment
from rampgate.store.events import insert_events
from rampgate.store.flags import load_ruleset

router = APIRouter(prefix="/api/v1", tags=["sdk"])
Sdk = Annotated[Principal, Depends(sdk_principal)]


def _payload(request: Request, environment: str) -> tuple[int, bytes]:
    """The environment's ruleset as sent to SDKs, cached per version (100 streams, one query)."""
    cache: dict[str, tuple[int, bytes]] = request.app.state.ruleset_cache
    with db.read(request.app.state.engine) as conn:
        snapshot = load_ruleset(conn, environment)
        cached = cache.get(environment)
        if cached is not None and cached[0] == snapshot.version:
            return cached
        body = json.dumps(
            {
                "environment": environment,
                "version": snapshot.version,
                "flags": snapshot.documents(),
                "saved_groups": {},
            },
            separators=(",", ":"),
        ).encode()
    # Two threads may build payloads concurrently: the cache only ever moves forward.
    latest = cache.get(environment)
    if latest is None or latest[0] < snapshot.version:
        cache[environment] = (snapshot.version, body)
    return snapshot.version, body


@router.get("/sdk/ruleset", summary="The SDK token's environment: every flag, with ETag")
def ruleset(request: Request, who: Sdk) -> Response:
    environment = who.token.environment or ""
    version, body = _payload(request, environment)
    etag = f'"{version}"'
    if request.headers.get("If-None-Match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


async def _current(request: Request, environment: str) -> tuple[int, bytes]:
    """The newest payload, read once per version however many streams are waiting for it.

    Without this every open stream re-reads the ruleset on every change: 100 SDKs meant 100
    identical queries queued on the thread pool, and the last SDK heard of the change last.
    """
    state = request.app.state
    wanted = state.hub.versions.get(environment, -1)
    cached = state.ruleset_cache.get(environment)
    if cached is not None and cached[0] >= wanted:
        return cached  # type: ignore[no-any-return]
    lock = state.ruleset_locks.setdefault(environment, asyncio.Lock())
    async with lock:
        cached = state.ruleset_cache.get(environment)
        if cached is not None and cached[0] >= wanted:
            return cached  # type: ignore[no-any-return]
        return await run_in_threadpool(_payload, request, environment)


@router.get(
    "/sdk/stream",
    summary="Server-Sent Events: the ruleset on connect and every new version after",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "events `ruleset` (id = version), comments as heartbeats",
        }
    },
)
async def stream(request: Request) -> StreamingResponse:
    who = await run_in_threadpool(sdk_principal, request)
    environment = who.token.environment or ""
    hub = request.app.state.hub
    heartbeat = request.app.state.settings.heartbeat_seconds
    last = request.headers.get("Last-Event-ID", "")
    sent: int | None = int(last) if last.isdigit() else None
    version, body = await _current(request, environment)

    async def events() -> AsyncIterator[bytes]:
        nonlocal sent, version, body
        yield b"retry: 1000\n\n"
        while True:
            if sent != version:
                yield b"id: %d\nevent: ruleset\ndata: %s\n\n" % (version, body)
                sent = version
            changed = await hub.wait(heartbeat)
            if not changed:
                yield b": ping\n\n"
            if hub.versions.get(environment, version) != sent:
                version, body = await _current(request, environment)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    request.app.state.metrics["sse_connections_total"] += 1
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _any_token(request: Request) -> Principal:
    """Authenticate before the body is read: a bad token is 401 whatever the body holds."""
    return principal(request)


_BATCH = TypeAdapter(EventsIn)
_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EventsIn"}}},
}


@router.post(
    "/events",
    summary="Ingest a batch of exposures and events (deduplicated by id)",
    openapi_extra={"requestBody": _BODY},
)
async def ingest(request: Request, _: Annotated[Principal, Depends(_any_token)]) -> JSONResponse:
    # Parsed and validated in one pass from the raw bytes (pydantic's JSON parser): at 50,000
    # events a second, FastAPI's json.loads + validate + model_dump was two thirds of the cost.
    try:
        body = _BATCH.validate_json(await request.body())
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
    return await run_in_threadpool(_store_events, request, body)


def _store_events(request: Request, body: EventsIn) -> JSONResponse:
    limit = request.app.state.settings.max_events_per_batch
    if len(body.events) > limit:
        raise ApiError(
            413,
            "Request too large",
            f"{len(body.events)} events in one batch",
            field="events",
            fix=f"send at most {limit} events per request",
        )
    environments = {e.environment for e in body.events if e.environment}
    principal_env = _events_environment(request, environments)
    # A validated model's __dict__ holds exactly its fields: model_dump() would copy each again.
    rows: list[dict[str, Any]] = [e.__dict__ for e in body.events]
    with db.write(request.app.state.engine) as conn:
        result = insert_events(conn, rows, environment=principal_env)
    request.app.state.metrics["events_ingested_total"] += result.inserted
    return JSONResponse(
        {"accepted": len(rows), "inserted": result.inserted, "duplicates": result.duplicates}
    )


def _events_environment(request: Request, named: set[str]) -> str:
    """SDK tokens write their own environment; an admin batch must name exactly one."""
    if len(named) > 1:
        raise ApiError(
            422,
            "Invalid request",
            f"one batch names several environments: {sorted(named)}",
            field="events[].environment",
            fix="send one environment per batch",
        )
    header_env = next(iter(named), None)
    try:
        who = sdk_principal(request)
    except ApiError as exc:
        if exc.status != 403 or header_env is None:
            raise
        require_environment(request, header_env)  # an admin may send for a named environment
        with db.read(request.app.state.engine) as conn:
            get_environment(conn, header_env)  # 404 for an unknown environment
        return header_env
    token_env = who.token.environment or ""
    if header_env is not None and header_env != token_env:
        raise ApiError(
            403,
            "Forbidden",
            f"this SDK token writes {token_env!r}, not {header_env!r}",
            field="events[].environment",
            fix=f"send events of {token_env!r} only",
        )
    return token_env
