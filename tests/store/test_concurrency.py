"""Races: many writers at once, on SQLite and PostgreSQL, each on its own connection.

The properties: a compare-and-swap has exactly one winner and no lost update; two identical
idempotent requests make one change and return one receipt; concurrent changes never fork the
audit chain.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from rampgate import store
from rampgate.store import schema

from .factories import agent_flag

T = TypeVar("T")
WRITERS = 200


@pytest.fixture
def wide_engine(database_url: str, engine: Engine) -> Iterator[Engine]:
    """The migrated database behind a pool wide enough for every writer to hold a connection.

    SQLite gets one connection per writer. PostgreSQL is capped at 40 simultaneous
    connections (the server's default ``max_connections`` is 100 and other suites share it);
    the other writers queue for a connection and still race with the same stale version.
    """
    size = WRITERS if engine.dialect.name == "sqlite" else 40
    wide = store.create_engine(database_url, pool_size=size, max_overflow=0, pool_timeout=120)
    try:
        yield wide
    finally:
        wide.dispose()


def _race(n: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run ``work(i)`` for i in range(n) in n threads released together; collect outcomes."""
    barrier = threading.Barrier(n)

    def run(i: int) -> T | BaseException:
        barrier.wait()
        try:
            return work(i)
        except BaseException as exc:  # the outcome under test
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_concurrent_conflicting_updates_have_one_winner(wide_engine: Engine, prod: str) -> None:
    with store.write(wide_engine) as conn:
        store.create_flag(conn, prod, agent_flag(), actor="setup")

    def update(i: int) -> store.Receipt:
        with store.write(wide_engine) as conn:
            return store.update_flag(
                conn,
                prod,
                agent_flag(candidate_weight=(i + 1) / 1000),
                expected_version=1,
                actor=f"writer-{i}",
            )

    outcomes = _race(WRITERS, update)
    winners = [o for o in outcomes if isinstance(o, store.Receipt)]
    losers = [o for o in outcomes if not isinstance(o, store.Receipt)]
    assert len(winners) == 1
    assert all(isinstance(o, store.VersionConflict) for o in losers), {type(o) for o in losers}
    assert {(o.expected, o.current) for o in losers if isinstance(o, store.VersionConflict)} == {
        (1, 2)
    }
    winner = winners[0]
    with store.read(wide_engine) as conn:
        record = store.get_flag(conn, prod, "support-agent")
        history = store.flag_history(conn, prod, "support-agent")
        assert store.ruleset_version(conn, prod) == 2
        assert store.verify(conn).ok
    # No lost update: the stored document is the winner's, at start + 1.
    assert record.version == 2
    assert record.updated_by == winner.actor
    weight = record.document["rules"][1]["split"]["weights"]["candidate"]
    assert weight == (int(winner.actor.split("-")[1]) + 1) / 1000
    assert [v.version for v in history] == [1, 2]


def test_racing_identical_requests_make_one_change(wide_engine: Engine, prod: str) -> None:
    with store.write(wide_engine) as conn:
        store.create_flag(conn, prod, agent_flag(), actor="setup")
    scope = "PUT /api/v1/environments/prod/flags/support-agent"
    body = {"weight": 0.25}
    fingerprint = store.request_fingerprint("PUT", scope.split()[1], body)

    def request(_: int) -> tuple[int, object]:
        with store.write(wide_engine) as conn:
            stored = store.claim(conn, "retry-1", scope, fingerprint)
            if stored is not None:
                return stored.status_code, stored.response
            receipt = store.update_flag(
                conn,
                prod,
                agent_flag(candidate_weight=0.25),
                expected_version=1,
                actor="client",
                idempotency_key="retry-1",
            )
            response = receipt.to_json()
            store.remember(conn, "retry-1", scope, fingerprint, status_code=200, response=response)
            return 200, response

    outcomes = _race(20, request)
    assert not [o for o in outcomes if isinstance(o, BaseException)], outcomes
    assert len({str(o) for o in outcomes}) == 1, "every retry returns the same receipt"
    with store.read(wide_engine) as conn:
        assert store.get_flag(conn, prod, "support-agent").version == 2
        assert len(store.flag_history(conn, prod, "support-agent")) == 2


def test_concurrent_changes_never_fork_the_audit_chain(wide_engine: Engine) -> None:
    def create(i: int) -> store.Receipt:
        with store.write(wide_engine) as conn:
            return store.create_environment(conn, f"env-{i}", actor=f"a{i}")

    outcomes = _race(50, create)
    assert all(isinstance(o, store.Receipt) for o in outcomes), outcomes
    with store.read(wide_engine) as conn:
        result = store.verify(conn)
        seqs = conn.execute(sa.select(schema.audit_log.c.seq).order_by("seq")).scalars().all()
    assert result.ok, result
    assert result.rows_checked == 50
    assert seqs == list(range(1, 51))
