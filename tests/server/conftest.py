"""Server tests run against a real server on loopback, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from tests.store.databases import database_url, engine, postgres_engine

from .live import Live, running_server, tokens

__all__ = ["database_url", "engine", "live", "postgres_engine"]


@pytest.fixture
def live(engine: Engine) -> Iterator[Live]:
    admin, sdk = tokens(engine)
    with running_server(engine) as url:
        server = Live(url, engine, admin, sdk)
        yield server
        server.close()


AGENT = {
    "description": "support agent",
    "variants": {
        "stable": {"model": "gpt-4o", "prompt_version": "v3"},
        "candidate": {"model": "claude-sonnet-4", "prompt_version": "v4"},
    },
    "default": "stable",
    "pin": "session",
    "rules": [
        {"id": "staff", "when": {"email": {"$regex": "@example\\.com$"}}, "serve": "candidate"},
        {"id": "canary", "split": {"weights": {"stable": 0.95, "candidate": 0.05}}},
    ],
}
