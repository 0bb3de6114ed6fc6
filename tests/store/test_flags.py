"""Flags: create, read, compare-and-swap updates, kill switch, delete, immutable history."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rampgate import ConfigError, Flag, Rule, Split, store
from rampgate.config import flag_to_document
from rampgate.store import schema

from .factories import agent_flag


def _create(engine: Engine, key: str = "support-agent") -> store.Receipt:
    with store.write(engine) as conn:
        return store.create_flag(conn, "prod", agent_flag(key), actor="alice")


def test_create_and_read_back_losslessly(engine: Engine, prod: str) -> None:
    flag = agent_flag(candidate_weight=0.25)
    with store.write(engine) as conn:
        receipt = store.create_flag(conn, prod, flag, actor="alice", idempotency_key="k1")
    assert (receipt.action, receipt.before_version, receipt.after_version) == (
        "flag.create",
        None,
        1,
    )
    assert receipt.resource == "environments/prod/flags/support-agent"
    assert receipt.idempotency_key == "k1"
    with store.read(engine) as conn:
        record = store.get_flag(conn, prod, "support-agent")
    assert record.version == 1
    assert record.updated_by == "alice"
    assert record.document == flag_to_document(replace(flag, version=1))
    assert record.flag() == replace(flag, version=1)


def test_document_key_order_survives_the_database(engine: Engine, prod: str) -> None:
    """Split weights are ordered (they decide bucket ranges): the stored JSON keeps the order."""
    _create(engine)
    with store.read(engine) as conn:
        record = store.get_flag(conn, prod, "support-agent")
    weights = record.document["rules"][1]["split"]["weights"]
    assert list(weights) == ["stable", "candidate"]
    assert list(record.document["variants"]) == ["stable", "candidate"]


def test_create_twice_is_already_exists(engine: Engine, prod: str) -> None:
    _create(engine)
    with pytest.raises(store.AlreadyExists) as info, store.write(engine) as conn:
        store.create_flag(conn, prod, agent_flag(), actor="bob")
    assert info.value.resource == "environments/prod/flags/support-agent"


def test_unknown_environment_and_flag_are_not_found(engine: Engine, prod: str) -> None:
    with pytest.raises(store.NotFound, match="environments/nope"), store.write(engine) as conn:
        store.create_flag(conn, "nope", agent_flag(), actor="alice")
    with store.read(engine) as conn:
        with pytest.raises(store.NotFound, match="flags/ghost"):
            store.get_flag(conn, prod, "ghost")
        with pytest.raises(store.NotFound):
            store.list_flags(conn, "nope")
        with pytest.raises(store.NotFound):
            store.flag_history(conn, prod, "ghost")
    with pytest.raises(store.NotFound), store.write(engine) as conn:
        store.update_flag(conn, prod, agent_flag("ghost"), expected_version=1, actor="a")


def test_bad_flag_key_is_refused(engine: Engine, prod: str) -> None:
    with pytest.raises(ConfigError, match="bad flag key"), store.write(engine) as conn:
        store.create_flag(conn, prod, agent_flag("has space"), actor="alice")


def test_a_flag_the_codec_cannot_read_back_is_refused(engine: Engine, prod: str) -> None:
    """What the store keeps, every SDK must be able to parse: weights must add up to 1."""
    unreadable = Flag(
        key="bad",
        variants={"a": 1, "b": 2},
        default="a",
        rules=(Rule(id="r", split=Split(weights={"a": 0.0, "b": 0.0})),),
    )
    with pytest.raises(ConfigError, match="add up to"), store.write(engine) as conn:
        store.create_flag(conn, prod, unreadable, actor="alice")
    with store.read(engine) as conn:
        assert store.list_flags(conn, prod) == []


def test_update_with_the_current_version(engine: Engine, prod: str) -> None:
    _create(engine)
    with store.write(engine) as conn:
        receipt = store.update_flag(
            conn, prod, agent_flag(candidate_weight=0.25), expected_version=1, actor="bob"
        )
    assert (receipt.before_version, receipt.after_version, receipt.actor) == (1, 2, "bob")
    with store.read(engine) as conn:
        record = store.get_flag(conn, prod, "support-agent")
    assert record.version == 2
    assert record.document["version"] == 2
    assert record.document["rules"][1]["split"]["weights"]["candidate"] == 0.25


def test_stale_version_is_a_conflict_naming_the_current_one(engine: Engine, prod: str) -> None:
    _create(engine)
    with store.write(engine) as conn:
        store.update_flag(
            conn, prod, agent_flag(candidate_weight=0.1), expected_version=1, actor="a"
        )
    with pytest.raises(store.VersionConflict) as info, store.write(engine) as conn:
        store.update_flag(
            conn, prod, agent_flag(candidate_weight=0.2), expected_version=1, actor="b"
        )
    assert (info.value.expected, info.value.current) == (1, 2)
    with store.read(engine) as conn:
        record = store.get_flag(conn, prod, "support-agent")
    assert record.document["rules"][1]["split"]["weights"]["candidate"] == 0.1


def test_a_failed_change_leaves_no_trace(engine: Engine, prod: str) -> None:
    """Row, version, ruleset, receipt and audit entry commit together or not at all."""
    _create(engine)
    with store.read(engine) as conn:
        before = _counts(conn)
    with pytest.raises(RuntimeError, match="boom"):
        _update_then_fail(engine)
    with store.read(engine) as conn:
        assert _counts(conn) == before
        assert store.get_flag(conn, prod, "support-agent").version == 1


def _update_then_fail(engine: Engine) -> None:
    with store.write(engine) as conn:
        store.update_flag(
            conn, "prod", agent_flag(candidate_weight=0.5), expected_version=1, actor="a"
        )
        raise RuntimeError("boom")


def _counts(conn: sa.Connection) -> dict[str, int]:
    tables = (schema.flag_versions, schema.receipts, schema.audit_log)
    counts = {
        t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for t in tables
    }
    counts["ruleset"] = store.ruleset_version(conn, "prod")
    return counts


def test_every_change_bumps_the_ruleset_version(engine: Engine, prod: str) -> None:
    with store.read(engine) as conn:
        assert store.ruleset_version(conn, prod) == 0
    _create(engine)
    _create(engine, key="other")
    with store.write(engine) as conn:
        store.update_flag(conn, prod, agent_flag(), expected_version=1, actor="a")
        store.kill_flag(conn, prod, "other", actor="a")
        receipt = store.delete_flag(conn, prod, "support-agent", expected_version=2, actor="a")
    assert receipt.detail["ruleset_version"] == 5
    with store.read(engine) as conn:
        snapshot = store.load_ruleset(conn, prod)
    assert snapshot.version == 5
    assert [f.key for f in snapshot.flags] == ["other"]
    assert snapshot.documents()["other"]["killed"] is True


def test_empty_environment_has_an_empty_ruleset(engine: Engine, prod: str) -> None:
    with store.read(engine) as conn:
        snapshot = store.load_ruleset(conn, prod)
        with pytest.raises(store.NotFound):
            store.load_ruleset(conn, "nope")
    assert (snapshot.environment, snapshot.version, snapshot.flags) == ("prod", 0, ())


def test_kill_raises_pin_generation_and_unkill_keeps_it(engine: Engine, prod: str) -> None:
    _create(engine)
    with store.write(engine) as conn:
        killed = store.kill_flag(
            conn, prod, "support-agent", actor="oncall", detail={"reason": "p1"}
        )
    assert (killed.action, killed.before_version, killed.after_version) == ("flag.kill", 1, 2)
    assert killed.detail["reason"] == "p1"
    with store.read(engine) as conn:
        record = store.get_flag(conn, prod, "support-agent")
    assert record.killed
    assert record.pin_generation == 1
    assert record.flag().killed and record.flag().pin_generation == 1
    with store.write(engine) as conn:
        store.kill_flag(conn, prod, "support-agent", actor="oncall")
        unkilled = store.unkill_flag(
            conn, prod, "support-agent", actor="oncall", expected_version=3
        )
    assert unkilled.after_version == 4
    with store.read(engine) as conn:
        record = store.get_flag(conn, prod, "support-agent")
    assert not record.killed
    assert "killed" not in record.document
    assert record.pin_generation == 2  # each kill dropped the pins; unkill does not bring them back


def test_kill_with_a_stale_expected_version_is_a_conflict(engine: Engine, prod: str) -> None:
    _create(engine)
    with pytest.raises(store.VersionConflict), store.write(engine) as conn:
        store.kill_flag(conn, prod, "support-agent", actor="oncall", expected_version=7)


def test_update_keeps_the_kill_switch_and_can_raise_pins(engine: Engine, prod: str) -> None:
    _create(engine)
    with store.write(engine) as conn:
        store.kill_flag(conn, prod, "support-agent", actor="oncall")
        store.update_flag(conn, prod, agent_flag(), expected_version=2, actor="sync")
    with store.read(engine) as conn:
        record = store.get_flag(conn, prod, "support-agent")
    assert record.killed, "a config sync must not revive a killed flag"
    with store.write(engine) as conn:
        store.update_flag(
            conn, prod, agent_flag(), expected_version=3, actor="ctl", raise_pin_generation=True
        )
    with store.read(engine) as conn:
        assert store.get_flag(conn, prod, "support-agent").pin_generation == 2


def test_delete_needs_the_current_version_and_keeps_history(engine: Engine, prod: str) -> None:
    _create(engine)
    with pytest.raises(store.VersionConflict), store.write(engine) as conn:
        store.delete_flag(conn, prod, "support-agent", expected_version=5, actor="a")
    with store.write(engine) as conn:
        receipt = store.delete_flag(conn, prod, "support-agent", expected_version=1, actor="a")
    assert (receipt.action, receipt.before_version, receipt.after_version) == (
        "flag.delete",
        1,
        None,
    )
    with store.read(engine) as conn:
        with pytest.raises(store.NotFound):
            store.get_flag(conn, prod, "support-agent")
        assert [v.version for v in store.flag_history(conn, prod, "support-agent")] == [1]
    with pytest.raises(store.NotFound), store.write(engine) as conn:
        store.delete_flag(conn, prod, "support-agent", expected_version=1, actor="a")


def test_recreated_flag_continues_the_version_numbers(engine: Engine, prod: str) -> None:
    _create(engine)
    with store.write(engine) as conn:
        store.update_flag(conn, prod, agent_flag(), expected_version=1, actor="a")
        store.delete_flag(conn, prod, "support-agent", expected_version=2, actor="a")
        again = store.create_flag(conn, prod, agent_flag(candidate_weight=0.5), actor="b")
    assert again.after_version == 3
    with store.read(engine) as conn:
        history = store.flag_history(conn, prod, "support-agent")
    assert [(v.version, v.action, v.actor) for v in history] == [
        (1, "flag.create", "alice"),
        (2, "flag.update", "a"),
        (3, "flag.create", "b"),
    ]


def test_history_keeps_every_version_with_its_change(engine: Engine, prod: str) -> None:
    first = _create(engine)
    with store.write(engine) as conn:
        second = store.update_flag(
            conn, prod, agent_flag(candidate_weight=0.5), expected_version=1, actor="bob"
        )
    with store.read(engine) as conn:
        history = store.flag_history(conn, prod, "support-agent")
        v1 = store.get_flag_version(conn, prod, "support-agent", 1)
        with pytest.raises(store.NotFound, match="versions/9"):
            store.get_flag_version(conn, prod, "support-agent", 9)
        receipt = store.get_receipt(conn, second.change_id)
    assert [v.change_id for v in history] == [first.change_id, second.change_id]
    assert v1.document["rules"][1]["split"]["weights"]["candidate"] == 0.05
    assert v1.flag().version == 1
    assert receipt == second
    assert history[1].to_json()["document"]["version"] == 2


def test_history_rows_cannot_be_edited_or_deleted(engine: Engine, prod: str) -> None:
    _create(engine)
    table = schema.flag_versions
    for statement in (
        table.update().values(document={"tampered": True}),
        table.delete(),
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    with store.read(engine) as conn:
        history = store.flag_history(conn, prod, "support-agent")
    assert len(history) == 1
    assert "tampered" not in history[0].document


def test_receipts_and_json(engine: Engine, prod: str) -> None:
    receipt = _create(engine)
    body = receipt.to_json()
    assert json.loads(json.dumps(body)) == body
    assert body["created_at"].endswith("+00:00")
    with store.read(engine) as conn:
        assert store.list_receipts(conn, receipt.resource) == [receipt]
        with pytest.raises(store.NotFound):
            store.get_receipt(conn, "no-such-change")
        record = store.get_flag(conn, prod, "support-agent")
    assert record.to_json()["version"] == 1
