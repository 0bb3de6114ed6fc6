"""The FastAPI application: one factory, state on ``app.state``, routes in ``routes/``."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from rampgate._version import __version__
from rampgate.store import db
from rampgate.store.migrate import upgrade
from rampgate.store.tokens import bootstrap_admin

from . import openapi, problems
from .controller import Controller
from .hub import ChangeHub
from .limits import BodyLimit
from .routes import admin, experiments, flags, health, rollouts, sdk
from .settings import ServerSettings

__all__ = ["create_app"]

logger = logging.getLogger("rampgate.server")

DESCRIPTION = """The rampgate control plane: environments, flags (compare-and-swap writes with
`If-Match`, idempotent with `Idempotency-Key`, each change answered with a receipt and written
to a hash-chained audit log), SDK rulesets pushed over Server-Sent Events, and event ingestion.
Every error is `application/problem+json` naming the field and the fix. Authenticate with
`Authorization: Bearer <token>`: admin tokens for everything, SDK tokens for one environment's
ruleset and events."""


def create_app(settings: ServerSettings | None = None, *, engine: Engine | None = None) -> FastAPI:
    """Build the app. Migrations run at start-up; a fresh database prints its first admin token."""
    settings = settings or ServerSettings.from_env()
    engine = engine or db.create_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        upgrade(engine)
        with db.write(engine) as conn:
            created = bootstrap_admin(conn)
        if created is not None:
            # Printed once: only the hash is stored, so this is the only time it can be shown.
            print(f"rampgate: first admin token (shown once): {created[1]}", flush=True)
        await app.state.hub.start()
        controller: Controller = app.state.controller
        if settings.controller_interval > 0:
            controller.start()
        try:
            yield
        finally:
            controller.stop()
            await app.state.hub.stop()

    app = FastAPI(
        title="rampgate",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.hub = ChangeHub(engine, poll_seconds=settings.change_poll_seconds)
    app.state.controller = Controller(
        engine, interval=settings.controller_interval or 10.0, publish=app.state.hub.published
    )
    app.state.ruleset_cache = {}
    app.state.ruleset_locks = {}
    app.state.metrics = Counter({"events_ingested_total": 0, "sse_connections_total": 0})
    problems.install(app)
    openapi.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    for module in (health, admin, flags, rollouts, experiments, sdk):
        app.include_router(module.router)
    return app
