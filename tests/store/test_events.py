"""Events: stored once each, however often a batch is delivered."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rampgate import store


def _exposure(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.UUID(int=i)),
        "type": "exposure",
        "time_ms": 1_700_000_000_000 + i,
        "environment": "prod",
        "user_id": f"u{i % 7}",
        "session_id": f"s{i % 3}",
        "flag": "support-agent",
        "variant": "candidate" if i % 2 else "stable",
        "reason": "SPLIT",
        "rule_id": "canary",
        "flag_version": 3,
        **extra,
    }


def _outcome(i: int) -> dict[str, Any]:
    return {
        "id": str(uuid.UUID(int=10_000 + i)),
        "type": "event",
        "time_ms": 1_700_000_000_000 + i,
        "environment": "prod",
        "user_id": f"u{i % 7}",
        "session_id": None,
        "name": "latency_ms",
        "value": 120.5 + i,
        "properties": {"tool": "search", "steps": [1, 2]},
    }


def test_the_same_batch_twice_is_stored_once(engine: Engine) -> None:
    batch = [_exposure(i) for i in range(50)] + [_outcome(i) for i in range(50)]
    with store.write(engine) as conn:
        first = store.insert_events(conn, batch)
    with store.write(engine) as conn:
        second = store.insert_events(conn, batch)
    assert first == (100, 0)
    assert second == store.IngestResult(inserted=0, duplicates=100)
    with store.read(engine) as conn:
        assert store.count_events(conn) == 100
        assert store.count_events(conn, type="exposure") == 50
        assert store.count_events(conn, environment="prod", name="latency_ms") == 50
        assert store.count_events(conn, flag="support-agent") == 50


def test_overlapping_batches_and_repeats_inside_one(engine: Engine) -> None:
    with store.write(engine) as conn:
        assert store.insert_events(conn, [_exposure(i) for i in range(10)]) == (10, 0)
        again = [_exposure(i) for i in range(5, 15)] + [_exposure(14), _exposure(14)]
        assert store.insert_events(conn, again) == (5, 7)
        assert store.count_events(conn) == 15


def test_large_batches_go_in_pages(engine: Engine) -> None:
    rows = [_exposure(i) for i in range(2500)]
    with store.write(engine) as conn:
        assert store.insert_events(conn, rows, batch_size=1000) == (2500, 0)
        assert store.insert_events(conn, rows[::2], batch_size=300) == (0, 1250)
        assert store.count_events(conn) == 2500


def test_environment_override_and_stored_fields(engine: Engine) -> None:
    row = _outcome(1) | {"environment": "dev"}
    with store.write(engine) as conn:
        store.insert_events(conn, [row], environment="prod")
    with store.read(engine) as conn:
        assert store.count_events(conn, environment="dev") == 0
        stored = conn.execute(store.schema.events.select()).one()._asdict()
    assert stored["environment"] == "prod"
    assert stored["properties"] == {"tool": "search", "steps": [1, 2]}
    assert stored["value"] == 121.5
    assert stored["flag"] is None
    assert stored["received_at"].tzinfo is not None


def test_a_bad_row_raises_sqlalchemy_errors_and_stores_nothing(engine: Engine) -> None:
    rows = [_exposure(1), _exposure(2, type="click")]
    with pytest.raises(sa.exc.IntegrityError), store.write(engine) as conn:
        store.insert_events(conn, rows)
    with store.read(engine) as conn:
        assert store.count_events(conn) == 0


def test_an_empty_batch_is_fine(engine: Engine) -> None:
    with store.write(engine) as conn:
        assert store.insert_events(conn, []) == (0, 0)
