"""Idempotency records: replay, mismatch, roll back with the change, expire."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from rampgate import store
from rampgate.store.schema import utcnow

SCOPE = "POST /api/v1/environments"


def _create_env(engine: Engine, key: str, name: str) -> tuple[int, object]:
    """What the API does for an idempotent POST: claim, change, remember — one transaction."""
    body = {"key": name}
    fingerprint = store.request_fingerprint("POST", "/api/v1/environments", body)
    with store.write(engine) as conn:
        stored = store.claim(conn, key, SCOPE, fingerprint)
        if stored is not None:
            return stored.status_code, stored.response
        receipt = store.create_environment(conn, name, actor="api", idempotency_key=key)
        store.remember(conn, key, SCOPE, fingerprint, status_code=201, response=receipt.to_json())
        return 201, receipt.to_json()


def test_same_key_same_request_replays_the_receipt(engine: Engine) -> None:
    first = _create_env(engine, "k1", "dev")
    second = _create_env(engine, "k1", "dev")
    assert first == second
    with store.read(engine) as conn:
        assert [e.key for e in store.list_environments(conn)] == ["dev"]
        assert store.verify(conn).rows_checked == 1, "the replay changed nothing"


def test_same_key_different_request_is_a_mismatch(engine: Engine) -> None:
    _create_env(engine, "k1", "dev")
    with pytest.raises(store.IdempotencyMismatch) as info:
        _create_env(engine, "k1", "staging")
    assert (info.value.key, info.value.scope) == ("k1", SCOPE)
    with store.read(engine) as conn:
        assert [e.key for e in store.list_environments(conn)] == ["dev"]


def test_the_same_key_in_another_scope_is_another_record(engine: Engine) -> None:
    with store.write(engine) as conn:
        store.remember(conn, "k", "scope-a", "h1", status_code=200, response={"a": 1})
        store.remember(conn, "k", "scope-b", "h2", status_code=200, response={"b": 2})
    with store.read(engine) as conn:
        a = store.lookup(conn, "k", "scope-a")
        b = store.lookup(conn, "k", "scope-b", "h2")
    assert a is not None and a.response == {"a": 1}
    assert b is not None and b.response == {"b": 2}


def _claim_then_create(engine: Engine, fingerprint: str) -> None:
    with store.write(engine) as conn:
        assert store.claim(conn, "k1", SCOPE, fingerprint) is None
        store.create_environment(conn, "dev", actor="api")


def test_a_failed_request_releases_its_key(engine: Engine) -> None:
    """A request that fails rolls its claim back: a retry runs again (and may succeed)."""
    with store.write(engine) as conn:
        store.create_environment(conn, "dev", actor="setup")
    fingerprint = store.request_fingerprint("POST", "/x", {"key": "dev"})
    with pytest.raises(store.AlreadyExists):
        _claim_then_create(engine, fingerprint)
    with store.read(engine) as conn:
        assert store.lookup(conn, "k1", SCOPE) is None
    with store.write(engine) as conn:
        assert store.claim(conn, "k1", SCOPE, fingerprint) is None


def test_lookup_then_remember_without_claim(engine: Engine) -> None:
    with store.write(engine) as conn:
        assert store.lookup(conn, "k", SCOPE, "h") is None
        store.remember(conn, "k", SCOPE, "h", status_code=200, response={"n": 1})
    with store.read(engine) as conn:
        stored = store.lookup(conn, "k", SCOPE, "h")
        with pytest.raises(store.IdempotencyMismatch):
            store.lookup(conn, "k", SCOPE, "other")
    assert stored is not None
    assert (stored.status_code, stored.response, stored.request_hash) == (200, {"n": 1}, "h")


def test_remember_after_another_request_completed_raises_replay(engine: Engine) -> None:
    with store.write(engine) as conn:
        store.remember(conn, "k", SCOPE, "h", status_code=200, response={"first": True})
    with pytest.raises(store.IdempotentReplay) as info, store.write(engine) as conn:
        store.remember(conn, "k", SCOPE, "h", status_code=200, response={"second": True})
    assert info.value.stored.response == {"first": True}
    with pytest.raises(store.IdempotencyMismatch), store.write(engine) as conn:
        store.remember(conn, "k", SCOPE, "other", status_code=200, response={})


def test_response_json_keeps_its_key_order(engine: Engine) -> None:
    response = {"z": 1, "a": [3, 2, 1], "m": {"y": None, "b": 1.5}}
    with store.write(engine) as conn:
        store.remember(conn, "k", SCOPE, "h", status_code=201, response=response)
    with store.read(engine) as conn:
        stored = store.lookup(conn, "k", SCOPE)
    assert stored is not None
    assert list(stored.response) == ["z", "a", "m"]
    assert stored.response == response


def test_purge_forgets_old_records(engine: Engine) -> None:
    with store.write(engine) as conn:
        store.remember(conn, "old", SCOPE, "h", status_code=200, response={})
    with store.write(engine) as conn:
        assert store.purge_idempotency(conn, older_than=utcnow() - timedelta(hours=1)) == 0
        assert store.purge_idempotency(conn, older_than=utcnow() + timedelta(seconds=1)) == 1
        assert store.lookup(conn, "old", SCOPE) is None


def test_fingerprint_ignores_key_order_but_not_content() -> None:
    a = store.request_fingerprint("put", "/p", {"a": 1, "b": [1, 2]})
    assert a == store.request_fingerprint("PUT", "/p", {"b": [1, 2], "a": 1})
    assert a != store.request_fingerprint("PUT", "/p", {"a": 1, "b": [2, 1]})
    assert a != store.request_fingerprint("PUT", "/q", {"a": 1, "b": [1, 2]})
    assert len(a) == 64
