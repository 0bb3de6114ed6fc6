"""Probes and metrics: no token needed."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from rampgate.store import db
from rampgate.store.migrate import current, head

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and its schema is current")
def readyz(request: Request) -> JSONResponse:
    engine = request.app.state.engine
    try:
        at = current(engine)
    except Exception as exc:  # any database failure means "not ready", with the reason
        return JSONResponse(
            {"status": "unavailable", "reason": type(exc).__name__}, status_code=503
        )
    expected = head()
    if at != expected:
        return JSONResponse(
            {"status": "migrating", "schema": at, "expected": expected}, status_code=503
        )
    with db.read(engine):
        pass
    return JSONResponse({"status": "ready", "schema": at})


@router.get("/metrics", summary="Prometheus text format", response_class=PlainTextResponse)
def metrics(request: Request) -> PlainTextResponse:
    counters: dict[str, int] = request.app.state.metrics
    lines = []
    for name, value in sorted(counters.items()):
        lines += [f"# TYPE rampgate_{name} counter", f"rampgate_{name} {value}"]
    versions = request.app.state.hub.versions
    lines.append("# TYPE rampgate_ruleset_version gauge")
    lines += [
        f'rampgate_ruleset_version{{environment="{env}"}} {v}'
        for env, v in sorted(versions.items())
    ]
    return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; version=0.0.4")
