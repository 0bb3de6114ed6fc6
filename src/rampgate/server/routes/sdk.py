"""What SDKs use: the environment's ruleset (ETag/304), its SSE stream, and event ingestion."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated, NamedTuple

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from rampgate.server.auth import Principal, principal, require_environment, sdk_principal
from rampgate.server.ingest import batch_columns
from rampgate.server.problems import ApiError
from rampgate.store import db
from rampgate.store.environments import get_environment
from rampgate.store.events import insert_event_columns
from rampgate.store.flags import load_ruleset

router = APIRouter(prefix="/api/v1", tags=["sdk"])
Sdk = Annotated[Principal, Depends(sdk_principal)]


class Payload(NamedTuple):
    """One ruleset version as SDKs receive it, encoded once for every client that gets it."""

    version: int
    body: bytes  # the JSON of GET /sdk/ruleset
    frame: bytes  # the same as one SSE event: what every stream writes


def _payload(request: Request, environment: str) -> Payload:
    """The environment's ruleset as sent to SDKs, cached per version (100 streams, one query)."""
    cache: dict[str, Payload] = request.app.state.ruleset_cache
    with db.read(request.app.state.engine) as conn:
        snapshot = load_ruleset(conn, environment)
        cached = cache.get(environment)
        if cached is not None and cached.version == snapshot.version:
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
    # Compact JSON has no newline, so the whole ruleset is one SSE data line.
    payload = Payload(
        snapshot.version, body, b"id: %d\nevent: ruleset\ndata: %s\n\n" % (snapshot.version, body)
    )
    # Two threads may build payloads concurrently: the cache only ever moves forward.
    latest = cache.get(environment)
    if latest is None or latest.version < snapshot.version:
        cache[environment] = payload
    return payload


@router.get("/sdk/ruleset", summary="The SDK token's environment: every flag, with ETag")
def ruleset(request: Request, who: Sdk) -> Response:
    environment = who.token.environment or ""
    payload = _payload(request, environment)
    etag = f'"{payload.version}"'
    if request.headers.get("If-None-Match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(payload.body, media_type="application/json", headers={"ETag": etag})


async def _current(request: Request, environment: str) -> Payload:
    """The newest payload, read once per version however many streams are waiting for it.

    Without this every open stream re-reads the ruleset on every change: 100 SDKs meant 100
    identical queries queued on the thread pool, and the last SDK heard of the change last.
    The first stream to need a version starts one read; the others await that same read (a
    lock would hand it on one waiter per loop turn), shielded so that a stream closing while
    it waits does not cancel the read for everyone else.
    """
    state = request.app.state
    wanted = state.hub.versions.get(environment, -1)
    cached: Payload | None = state.ruleset_cache.get(environment)
    if cached is not None and cached.version >= wanted:
        return cached
    reads: dict[str, asyncio.Future[Payload]] = state.ruleset_locks
    read = reads.get(environment)
    if read is None or read.done():
        read = asyncio.ensure_future(run_in_threadpool(_payload, request, environment))
        reads[environment] = read
    return await asyncio.shield(read)


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
    resumed: int | None = int(last) if last.isdigit() else None
    first = await _current(request, environment)

    async def events() -> AsyncIterator[bytes]:
        payload, sent = first, resumed
        # The reconnect delay and the current ruleset in one write.
        yield b"retry: 1000\n\n" + (payload.frame if sent != payload.version else b"")
        sent = payload.version
        while True:
            # Checked before waiting: a change made while this stream was writing the previous
            # one has already fired its wake-up, and must not wait for the next heartbeat.
            if hub.versions.get(environment, -1) <= sent:
                if not await hub.wait(heartbeat, environment):
                    yield b": ping\n\n"
                continue
            payload = await _current(request, environment)
            if payload.version > sent:
                yield payload.frame
                sent = payload.version

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    request.app.state.metrics["sse_connections_total"] += 1
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _any_token(request: Request) -> Principal:
    """Authenticate before the body is read: a bad token is 401 whatever the body holds."""
    return principal(request)


_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "anyOf": [
                    {"$ref": "#/components/schemas/EventsIn"},
                    {"$ref": "#/components/schemas/EventColumnsIn"},
                ]
            }
        }
    },
}


@router.post(
    "/events",
    summary="Ingest a batch of exposures and events (deduplicated by id)",
    openapi_extra={"requestBody": _BODY},
)
async def ingest(request: Request, _: Annotated[Principal, Depends(_any_token)]) -> JSONResponse:
    body = await request.body()
    # Parsing a batch of thousands of events takes milliseconds: off the event loop, so the
    # SSE streams it serves are not held up by ingestion.
    return await run_in_threadpool(_store_events, request, body)


def _store_events(request: Request, body: bytes) -> JSONResponse:
    limit = request.app.state.settings.max_events_per_batch
    engine = request.app.state.engine
    with _one_batch_at_a_time(engine), _cycle_collection_paused():
        columns = batch_columns(body, limit)
        named = set(columns["environment"])
        named.discard(None)
        named.discard("")
        principal_env = _events_environment(request, named)
        with db.write(engine) as conn:
            result = insert_event_columns(conn, columns, environment=principal_env)
    request.app.state.metrics["events_ingested_total"] += result.inserted
    return JSONResponse(
        {
            "accepted": len(columns["id"]),
            "inserted": result.inserted,
            "duplicates": result.duplicates,
        }
    )


@contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """No cycle collection while a batch is parsed and stored.

    A batch makes a dict per event, then a tuple per row, alive until the batch is stored:
    each pass of the collector walked them again, for nothing (reference counting frees them,
    there are no cycles). That was a tenth of the server's time at 50,000 events a second.
    Collection resumes after, unless something else had turned it off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_SQLITE_BATCHES: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_SQLITE_BATCHES_LOCK = threading.Lock()


@contextmanager
def _one_batch_at_a_time(engine: Engine) -> Iterator[None]:
    """On SQLite, this process stores one batch at a time, from parsing to commit.

    SQLite takes one writer at a time, and a connection that finds the file locked sleeps
    (1, 2, 5 … 100 ms) before it looks again: batches racing for the lock spent more time
    asleep than storing. And the insert runs in this process, releasing the GIL for each row
    and waiting to get it back: a batch parsed meanwhile on another thread holds it for
    milliseconds at a time, and both crawl. One after the other was faster than both at once
    (by about a fifth, on 2 CPUs), and the next bodies still arrive meanwhile. PostgreSQL
    works in its own processes, and concurrent batches keep it busy while this one parses.
    """
    if engine.dialect.name != "sqlite":
        yield
        return
    with _SQLITE_BATCHES_LOCK:
        lock = _SQLITE_BATCHES.setdefault(engine, threading.Lock())
    with lock:
        yield


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
