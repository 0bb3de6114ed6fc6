"""The audit chain: every change appends a linked row; verify finds any edit, gap or cut."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from rampgate import store
from rampgate.store import audit, schema

from .factories import agent_flag


@pytest.fixture
def history(engine: Engine, prod: str) -> Engine:
    """Six audited changes: environment, flag create/update/kill, token create, a custom one."""
    with store.write(engine) as conn:
        store.create_flag(conn, prod, agent_flag(), actor="alice")
        store.update_flag(
            conn, prod, agent_flag(candidate_weight=0.3), expected_version=1, actor="bob"
        )
        store.kill_flag(conn, prod, "support-agent", actor="oncall")
        store.create_token(conn, "sdk", prod, name="agent-svc", actor="alice")
        store.record_change(
            conn,
            actor="controller",
            action="rollout.advance",
            resource="rollouts/x",
            detail={"step": 2},
        )
    return engine


@contextmanager
def _tampering(engine: Engine) -> Iterator[Connection]:
    """A raw connection with the append-only triggers out of the way (as an attacker would)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
        yield conn


def _verify(engine: Engine) -> audit.VerifyResult:
    with store.read(engine) as conn:
        return store.verify(conn)


def test_an_empty_log_verifies(engine: Engine) -> None:
    result = _verify(engine)
    assert (result.ok, result.rows_checked, result.head_hash) == (True, 0, schema.GENESIS_HASH)


def test_every_change_is_chained_and_verifies(history: Engine) -> None:
    result = _verify(history)
    assert result.ok, result
    assert result.rows_checked == 6
    with store.read(history) as conn:
        entries = store.list_audit(conn)
    assert [e.action for e in entries] == [
        "environment.create",
        "flag.create",
        "flag.update",
        "flag.kill",
        "token.create",
        "rollout.advance",
    ]
    assert entries[0].prev_hash == schema.GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert result.head_hash == entries[-1].hash
    assert entries[2].detail["before_version"] == 1 and entries[2].detail["after_version"] == 2
    assert entries[5].detail["step"] == 2
    assert result.to_json()["ok"] is True


def test_the_audit_row_cites_the_receipt(history: Engine) -> None:
    with store.read(history) as conn:
        entry = store.list_audit(conn, action="flag.kill")[0]
        assert entry.change_id is not None
        receipt = store.get_receipt(conn, entry.change_id)
    assert (receipt.action, receipt.actor, receipt.after_version) == ("flag.kill", "oncall", 3)
    assert entry.to_json()["hash"] == entry.hash


def test_raw_updates_and_deletes_are_refused(history: Engine) -> None:
    for statement in (schema.audit_log.update().values(actor="mallory"), schema.audit_log.delete()):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), history.begin() as conn:
            conn.execute(statement)
    assert _verify(history).ok


def test_a_tampered_row_is_reported_by_its_seq(history: Engine) -> None:
    with _tampering(history) as conn:
        conn.execute(
            schema.audit_log.update().where(schema.audit_log.c.seq == 3).values(actor="mallory")
        )
    result = _verify(history)
    assert (result.ok, result.first_broken_seq, result.rows_checked) == (False, 3, 2)
    assert "altered" in result.reason


def test_a_tampered_detail_is_reported(history: Engine) -> None:
    with _tampering(history) as conn:
        conn.execute(
            schema.audit_log.update()
            .where(schema.audit_log.c.seq == 6)
            .values(detail={"step": 3, "before_version": None, "after_version": None})
        )
    result = _verify(history)
    assert (result.ok, result.first_broken_seq) == (False, 6)


def test_a_rehashed_row_breaks_the_next_link(history: Engine) -> None:
    """Recomputing a forged row's own hash is not enough: its successor no longer links."""
    with store.read(history) as conn:
        row = store.list_audit(conn, after_seq=1, limit=1)[0]
    forged = audit.entry_hash(
        row.prev_hash,
        seq=row.seq,
        created_at=row.created_at,
        actor="mallory",
        action=row.action,
        resource=row.resource,
        change_id=row.change_id,
        detail=row.detail,
    )
    with _tampering(history) as conn:
        conn.execute(
            schema.audit_log.update()
            .where(schema.audit_log.c.seq == 2)
            .values(actor="mallory", hash=forged)
        )
    result = _verify(history)
    assert (result.ok, result.first_broken_seq) == (False, 3)
    assert "does not link" in result.reason


def test_a_deleted_row_is_reported(history: Engine) -> None:
    with _tampering(history) as conn:
        conn.execute(schema.audit_log.delete().where(schema.audit_log.c.seq == 4))
    result = _verify(history)
    assert (result.ok, result.first_broken_seq) == (False, 4)
    assert "missing" in result.reason


def test_rows_cut_off_the_end_are_reported(history: Engine) -> None:
    with _tampering(history) as conn:
        conn.execute(schema.audit_log.delete().where(schema.audit_log.c.seq >= 5))
    result = _verify(history)
    assert (result.ok, result.first_broken_seq, result.rows_checked) == (False, 5, 4)
    assert "cut off" in result.reason


def test_a_row_past_the_head_is_reported(history: Engine) -> None:
    with store.read(history) as conn:
        last = store.list_audit(conn, after_seq=5)[0]
    with history.begin() as conn:
        conn.execute(
            schema.audit_log.insert().values(
                seq=7,
                created_at=last.created_at,
                actor="mallory",
                action="flag.update",
                resource="x",
                change_id=None,
                detail=None,
                prev_hash=last.hash,
                hash="f" * 64,
            )
        )
    result = _verify(history)
    assert (result.ok, result.first_broken_seq) == (False, 7)


def test_list_audit_filters_and_pages(history: Engine) -> None:
    with store.read(history) as conn:
        assert [e.seq for e in store.list_audit(conn, actor="alice")] == [2, 5]
        assert [
            e.seq for e in store.list_audit(conn, resource_prefix="environments/prod/flags/")
        ] == [2, 3, 4]
        page1 = store.list_audit(conn, limit=4)
        page2 = store.list_audit(conn, after_seq=page1[-1].seq, limit=4)
        first = page1[0].created_at
        assert [e.seq for e in page1 + page2] == [1, 2, 3, 4, 5, 6]
        assert store.list_audit(conn, until=first) == []
        assert len(store.list_audit(conn, since=first, until=first + timedelta(days=1))) == 6
        assert store.list_audit(conn, resource_prefix="environments/pr%") == []
