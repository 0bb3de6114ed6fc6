"""Environments and the ruleset version replicas and SDKs follow."""

from __future__ import annotations

import json

import psycopg
import pytest
from sqlalchemy.engine import Engine

from rampgate import ConfigError, store

from .databases import POSTGRES_URL
from .factories import agent_flag


def test_create_list_get(engine: Engine) -> None:
    with store.write(engine) as conn:
        receipt = store.create_environment(conn, "staging", actor="alice", description="pre-prod")
        store.create_environment(conn, "dev", actor="alice")
    assert (receipt.action, receipt.resource, receipt.after_version) == (
        "environment.create",
        "environments/staging",
        1,
    )
    with store.read(engine) as conn:
        envs = store.list_environments(conn)
        staging = store.get_environment(conn, "staging")
        with pytest.raises(store.NotFound):
            store.get_environment(conn, "prod")
        with pytest.raises(store.NotFound):
            store.ruleset_version(conn, "prod")
    assert [e.key for e in envs] == ["dev", "staging"]
    assert (staging.description, staging.version, staging.ruleset_version) == ("pre-prod", 1, 0)
    assert staging.to_json()["created_at"].endswith("+00:00")


def test_duplicate_and_bad_keys_are_refused(engine: Engine) -> None:
    with store.write(engine) as conn:
        store.create_environment(conn, "prod", actor="alice")
    with (
        pytest.raises(store.AlreadyExists, match="environments/prod already exists"),
        store.write(engine) as conn,
    ):
        store.create_environment(conn, "prod", actor="bob")
    with pytest.raises(ConfigError, match="bad environment key"), store.write(engine) as conn:
        store.create_environment(conn, "prod/../x", actor="bob")
    with pytest.raises(ValueError, match="actor"), store.write(engine) as conn:
        store.create_environment(conn, "qa", actor="")


def _create_then_fail(engine: Engine) -> None:
    with store.write(engine) as conn:
        store.create_flag(conn, "prod", agent_flag("rolled-back"), actor="a")
        raise RuntimeError("abort")


@pytest.mark.postgres
def test_flag_changes_notify_replicas_on_commit_only(postgres_engine: Engine) -> None:
    """PostgreSQL: ``NOTIFY rampgate_ruleset`` arrives after commit, never after a rollback."""
    engine = postgres_engine
    with store.write(engine) as conn:
        store.create_environment(conn, "prod", actor="setup")
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
    prod = "prod"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as listener:
        listener.execute(f"LISTEN {store.RULESET_CHANNEL}")
        with pytest.raises(RuntimeError, match="abort"):
            _create_then_fail(engine)
        with store.write(engine) as conn:
            store.create_flag(conn, prod, agent_flag(), actor="a")
            store.kill_flag(conn, prod, "support-agent", actor="a")
        payloads = []
        for note in listener.notifies(timeout=5):
            payload = json.loads(note.payload)
            # Other suites may share the database: keep this test's schema only.
            if payload["schema"] == schema:
                payloads.append(payload)
            if len(payloads) == 2:
                break
    assert payloads == [
        {"environment": "prod", "version": 1, "schema": schema},
        {"environment": "prod", "version": 2, "schema": schema},
    ]
