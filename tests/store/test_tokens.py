"""Tokens: plaintext shown once, only its hash stored, scoped, revocable, audited."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rampgate import ConfigError, store
from rampgate.store import schema


def test_admin_token_round_trip(engine: Engine) -> None:
    with store.write(engine) as conn:
        assert not store.has_admin(conn)
        token_id, plaintext = store.create_token(conn, "admin", name="ops", actor="init")
        assert store.has_admin(conn)
    assert plaintext.startswith("rg_admin_")
    assert len(plaintext) > len("rg_admin_") + 40
    with store.read(engine) as conn:
        token = store.authenticate(conn, plaintext)
        stored = conn.execute(sa.select(schema.api_tokens)).one()
    assert token is not None
    assert (token.id, token.kind, token.environment, token.name, token.active) == (
        token_id,
        store.TokenKind.ADMIN,
        None,
        "ops",
        True,
    )
    assert plaintext not in str(tuple(stored))
    assert stored.token_hash == store.tokens.hash_token(plaintext)
    assert token.to_json()["kind"] == "admin"


def test_sdk_token_is_scoped_to_an_existing_environment(engine: Engine, prod: str) -> None:
    with store.write(engine) as conn:
        _, plaintext = store.create_token(conn, store.TokenKind.SDK, prod, name="agent")
        with pytest.raises(store.NotFound):
            store.create_token(conn, "sdk", "nope")
    assert plaintext.startswith("rg_sdk_")
    with store.read(engine) as conn:
        token = store.authenticate(conn, plaintext)
        assert not store.has_admin(conn)
    assert token is not None
    assert (token.kind, token.environment) == (store.TokenKind.SDK, "prod")


@pytest.mark.parametrize(
    ("kind", "environment", "message"),
    [
        ("root", None, "unknown token kind"),
        ("sdk", None, "needs an environment"),
        ("admin", "prod", "not scoped"),
    ],
)
def test_bad_token_requests_are_refused(
    engine: Engine, prod: str, kind: str, environment: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message), store.write(engine) as conn:
        store.create_token(conn, kind, environment)


def test_wrong_or_malformed_tokens_do_not_authenticate(engine: Engine) -> None:
    with store.write(engine) as conn:
        _, plaintext = store.create_token(conn, "admin")
    with store.read(engine) as conn:
        assert store.authenticate(conn, plaintext + "x") is None
        assert store.authenticate(conn, "") is None
        assert store.authenticate(conn, "Bearer " + plaintext) is None
        assert store.authenticate(conn, store.tokens.hash_token(plaintext)) is None


def test_revoked_tokens_stop_working(engine: Engine) -> None:
    with store.write(engine) as conn:
        token_id, plaintext = store.create_token(conn, "admin", name="old")
        keep_id, _ = store.create_token(conn, "admin", name="new")
    with store.write(engine) as conn:
        receipt = store.revoke_token(conn, token_id, actor="alice")
        again = store.revoke_token(conn, token_id, actor="alice")
        with pytest.raises(store.NotFound):
            store.revoke_token(conn, "tok_missing", actor="alice")
    assert (receipt.action, receipt.resource) == ("token.revoke", f"tokens/{token_id}")
    assert again.detail["already_revoked"] is True
    with store.read(engine) as conn:
        assert store.authenticate(conn, plaintext) is None
        assert [t.id for t in store.list_tokens(conn)] == [keep_id]
        listed = store.list_tokens(conn, include_revoked=True)
        assert {t.id for t in listed} == {token_id, keep_id}
        assert store.get_token(conn, token_id).revoked_at is not None
        assert store.has_admin(conn)
        actions = [e.action for e in store.list_audit(conn)]
    assert actions == ["token.create", "token.create", "token.revoke", "token.revoke"]


def test_audit_never_records_the_secret(engine: Engine) -> None:
    with store.write(engine) as conn:
        _, plaintext = store.create_token(conn, "admin")
    with store.read(engine) as conn:
        text = str([e.to_json() for e in store.list_audit(conn)])
    assert plaintext not in text
    assert store.tokens.hash_token(plaintext) not in text


def test_bootstrap_admin_creates_one_token_once(engine: Engine) -> None:
    with store.write(engine) as conn:
        first = store.bootstrap_admin(conn)
    with store.write(engine) as conn:
        second = store.bootstrap_admin(conn)
    assert first is not None and second is None
    with store.read(engine) as conn:
        assert store.authenticate(conn, first[1]) is not None
        assert len(store.list_tokens(conn)) == 1


def test_list_tokens_by_environment(engine: Engine, prod: str) -> None:
    with store.write(engine) as conn:
        store.create_environment(conn, "dev", actor="t")
        store.create_token(conn, "sdk", prod)
        dev_id, _ = store.create_token(conn, "sdk", "dev")
        store.create_token(conn, "admin")
    with store.read(engine) as conn:
        assert [t.id for t in store.list_tokens(conn, environment="dev")] == [dev_id]
        assert len(store.list_tokens(conn)) == 3
