"""Store tests run twice: on SQLite and on PostgreSQL (see ``databases.py``)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from rampgate import store

from .databases import database_url, engine, postgres_engine

__all__ = ["database_url", "engine", "postgres_engine"]


@pytest.fixture
def prod(engine: Engine) -> str:
    """An engine with environment ``prod`` created; returns its key."""
    with store.write(engine) as conn:
        store.create_environment(conn, "prod", actor="setup")
    return "prod"
